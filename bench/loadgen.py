"""Fallback load generator for bench/http_throughput.py when ``wrk`` is missing.

Closed-loop HTTP/1.1 keep-alive client on uvloop with raw protocols (no HTTP
library): each of ``--connections`` connections sends one POST, waits for the
whole response (Content-Length), checks it, and sends the next. It sends the
same bodies as ``wrk_post.lua`` and writes the same JSON summary.

    python bench/loadgen.py --url http://127.0.0.1:8000/add --kind add -c 16 -d 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from urllib.parse import urlsplit

_SUCCESS = b'"status":"success"'


def _body(kind: str, owner: int, n: int) -> bytes:
    if kind == "add":
        pad = "x" * random.randint(0, 40)
        return (
            f'{{"path":"items:add","args":{{"owner":"o{owner}","n":{n},"body":"item {n} {pad}"}},'
            '"format":"json"}'
        ).encode()
    if kind == "byOwnerUnique":
        return f'{{"path":"items:byOwner","args":{{"owner":"o{owner}","nonce":{n}}},"format":"json"}}'.encode()
    return f'{{"path":"items:byOwner","args":{{"owner":"o{owner}"}},"format":"json"}}'.encode()


class _Conn(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._try_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed"))

    def _try_complete(self) -> None:
        if self.waiter is None or self.waiter.done():
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).split(b"\r\n")
        status = int(head[0].split(b" ", 2)[1])
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(self.buf) < end + 4 + length:
            return
        body = bytes(self.buf[end + 4 : end + 4 + length])
        del self.buf[: end + 4 + length]
        self.waiter.set_result((status, body))

    async def request(self, data: bytes) -> tuple[int, bytes]:
        self.waiter = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(data)
        return await self.waiter


async def _run(
    url: str, kind: str, connections: int, duration: float, owners: int, base: int
) -> dict:
    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"
    loop = asyncio.get_running_loop()
    latencies: list[int] = []
    counts = {"requests": 0, "bytes": 0, "failures": 0, "read": 0}
    sample = [""]
    deadline = time.perf_counter() + duration

    async def worker(index: int) -> None:
        _, conn = await loop.create_connection(_Conn, host, port)
        n = base + index * 100_000_000
        try:
            while time.perf_counter() < deadline:
                n += 1
                body = _body(kind, random.randrange(owners), n)
                req = (
                    f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode() + body
                started = time.perf_counter_ns()
                try:
                    status, resp = await conn.request(req)
                except ConnectionError:
                    counts["read"] += 1
                    return
                latencies.append((time.perf_counter_ns() - started) // 1000)
                counts["requests"] += 1
                counts["bytes"] += len(resp)
                if status != 200 or _SUCCESS not in resp:
                    counts["failures"] += 1
                    if not sample[0]:
                        sample[0] = f"{status} {resp[:300].decode(errors='replace')}"
        finally:
            if conn.transport is not None:
                conn.transport.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(connections)))
    elapsed_us = int((time.perf_counter() - started) * 1e6)
    latencies.sort()

    def pct(p: float) -> int:
        if not latencies:
            return 0
        return latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))]

    return {
        "requests": counts["requests"],
        "duration_us": elapsed_us,
        "bytes": counts["bytes"],
        "failures": counts["failures"],
        "failure_sample": sample[0],
        "errors": {"connect": 0, "read": counts["read"], "write": 0, "status": 0, "timeout": 0},
        "latency_us": {
            "mean": sum(latencies) / len(latencies) if latencies else 0.0,
            "min": latencies[0] if latencies else 0,
            "max": latencies[-1] if latencies else 0,
            "p50": pct(50),
            "p90": pct(90),
            "p99": pct(99),
            "p999": pct(99.9),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True)
    parser.add_argument("--kind", choices=["add", "byOwner", "byOwnerUnique"], required=True)
    parser.add_argument("-c", "--connections", type=int, default=1)
    parser.add_argument("-d", "--duration", type=float, default=5.0)
    parser.add_argument("--owners", type=int, default=50)
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--base", type=int, default=0, help="first request counter (unique per run)"
    )
    opts = parser.parse_args()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(
        _run(opts.url, opts.kind, opts.connections, opts.duration, opts.owners, opts.base)
    )
    text = json.dumps(result)
    if opts.out:
        with open(opts.out, "w") as f:
            f.write(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
