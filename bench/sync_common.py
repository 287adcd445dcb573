"""Shared parts of the realtime benchmarks (bench/sync_*.py, see bench/SYNC.md).

Three roles live in this one file because the benchmarks start it as a
subprocess:

* the **controller** helpers (imported by bench/sync_*.py): start/stop a
  ``livebase serve`` or the bare baseline server, a raw keep-alive HTTP
  client whose send time is the trigger time, a pool of client processes,
  RSS and CPU readings, small statistics;
* ``python bench/sync_common.py client``: a client process holding many
  WebSocket connections on one uvloop event loop. It speaks just enough
  RFC 6455 (no per-connection task, no per-message object) and just enough
  of the Convex sync protocol (Connect, ModifyQuerySet, Transition) to be
  cheap next to the server it measures. It timestamps every watched
  message with CLOCK_MONOTONIC, which is one clock for every process on the
  machine, so the controller can subtract its own trigger time. Commands
  arrive as JSON lines on stdin, replies and events leave on stdout;
* ``python bench/sync_common.py baseline``: the bare broadcast baseline, a
  ``websockets`` asyncio server whose connections do nothing but wait, plus
  a keep-alive HTTP endpoint ``POST /broadcast {"marker","size"}`` that
  ``websockets.broadcast()``-s one message of that size to all of them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import itertools
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

BENCH = Path(__file__).resolve().parent
APP = BENCH / "apps" / "syncbench"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def now_ns() -> int:
    """CLOCK_MONOTONIC: the same clock in every process of this machine."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def install_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def raise_nofile(want: int) -> int:
    """Raise this process's open-files limit towards ``want``; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# =============================================================================
# The client process
# =============================================================================

PING_MESSAGE = b'{"type":"Ping"}'
TRANSITION_PREFIX = b'{"type":"Transition"'


def _mask(payload: bytes) -> bytes:
    key = os.urandom(4)
    n = len(payload)
    if n == 0:
        return key
    stream = (key * (n // 4 + 1))[:n]
    return key + (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def ws_frame(opcode: int, payload: bytes) -> bytes:
    """One masked client frame (RFC 6455 §5.2)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + _mask(payload)


class Conn(asyncio.Protocol):
    """One WebSocket connection; messages go to its group's handler."""

    def __init__(self, group: Group, index: int, request: bytes) -> None:
        self.group = group
        self.index = index
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.open = False
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transition_waiter: asyncio.Future[bytes] | None = None
        self.fragments: list[bytes] = []
        self.query_set = 0
        self.next_query_id = 0
        self.got = False  # received the armed marker
        self.messages = 0  # non-Ping messages since the last count reset
        self.transitions = 0
        self.pings = 0
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment] # uvloop's isn't an asyncio.Transport subclass
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.opened.done():
            self.opened.set_exception(
                ConnectionError(f"connection lost during the handshake: {exc}")
            )
        if self.transition_waiter is not None and not self.transition_waiter.done():
            self.transition_waiter.set_exception(ConnectionError("connection lost"))
        self.group.lost += 1

    def send_text(self, text: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(ws_frame(0x1, text))

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            with contextlib.suppress(Exception):
                self.transport.write(ws_frame(0x8, (1000).to_bytes(2, "big")))
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        t = now_ns()
        buf = self.buf
        buf += data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end])
            del buf[: end + 4]
            if not head.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(ConnectionError(f"handshake refused: {head[:200]!r}"))
                assert self.transport is not None
                self.transport.close()
                return
            self.open = True
            self.opened.set_result(None)
        pos, n = 0, len(buf)
        while n - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, head_len = b1 & 0x7F, 2
            if length == 126:
                if n - pos < 4:
                    break
                length, head_len = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if n - pos < 10:
                    break
                length, head_len = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if b1 & 0x80:
                raise ConnectionError("the server sent a masked frame")
            if n - pos < head_len + length:
                break
            payload = bytes(buf[pos + head_len : pos + head_len + length])
            pos += head_len + length
            opcode = b0 & 0x0F
            if opcode == 0x9:  # ping: the servers drop clients that don't pong
                assert self.transport is not None
                self.transport.write(ws_frame(0xA, payload))
            elif opcode == 0x8:
                self.close()
            elif opcode in (0x0, 0x1, 0x2):
                if not b0 & 0x80:
                    self.fragments.append(payload)
                    continue
                if self.fragments:
                    payload = b"".join([*self.fragments, payload])
                    self.fragments.clear()
                self.group.on_message(self, payload, t)
        del buf[:pos]


@dataclass
class SubSpec:
    """Which queries each connection of a group subscribes to.

    ``args`` set: every connection subscribes once to that one shared query.
    ``field`` set: connection i subscribes to ``per_conn`` distinct queries,
    ``{field: prefix + str(start + i*per_conn + j)}``.
    """

    path: str
    args: dict[str, Any] | None = None
    field: str | None = None
    prefix: str = ""
    start: int = 0
    per_conn: int = 1

    def queries(self, i: int) -> list[dict[str, Any]]:
        if self.args is not None:
            return [self.args]
        assert self.field is not None
        base = self.start + i * self.per_conn
        return [{self.field: f"{self.prefix}{base + j}"} for j in range(self.per_conn)]


class Group:
    """Connections opened together; armed and counted together."""

    def __init__(self, name: str, emit: Callable[[dict[str, Any]], None]) -> None:
        self.name = name
        self.emit = emit
        self.conns: list[Conn] = []
        self.marker: bytes | None = None
        self.pending = 0
        self.times: list[int] = []
        self.size = 0
        self.lost = 0
        self.failed_queries = 0

    def on_message(self, conn: Conn, payload: bytes, t: int) -> None:
        if payload == PING_MESSAGE:
            conn.pings += 1
            return
        conn.messages += 1
        is_transition = payload.startswith(TRANSITION_PREFIX)
        if is_transition:
            conn.transitions += 1
            waiter = conn.transition_waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(payload)
        marker = self.marker
        if marker is not None and not conn.got and marker in payload:
            conn.got = True
            self.times.append(t)
            self.size = len(payload)
            self.pending -= 1
            if self.pending == 0:
                self.marker = None
                self.emit(
                    {
                        "event": "all",
                        "group": self.name,
                        "marker": marker.decode(),
                        "times": self.times,
                        "size": self.size,
                    }
                )

    def arm(self, marker: str) -> None:
        self.times = []
        self.pending = len(self.conns)
        for conn in self.conns:
            conn.got = False
        self.marker = marker.encode()

    def counts(self) -> dict[str, Any]:
        return {
            "conns": len(self.conns),
            "messages": sum(c.messages for c in self.conns),
            "transitions": sum(c.transitions for c in self.conns),
            "conns_with_messages": sum(1 for c in self.conns if c.messages),
            "pings": sum(c.pings for c in self.conns),
            "lost": self.lost,
        }

    def reset_counts(self) -> None:
        for c in self.conns:
            c.messages = c.transitions = c.pings = 0


class ClientProcess:
    """The ``client`` subcommand: obeys JSON-line commands from the controller."""

    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}
        self.out = sys.stdout.buffer

    def emit(self, msg: dict[str, Any]) -> None:
        self.out.write(orjson.dumps(msg) + b"\n")
        self.out.flush()

    async def main(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=64 << 20)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        tasks: set[asyncio.Task[None]] = set()
        while True:
            line = await reader.readline()
            if not line:
                break
            cmd = orjson.loads(line)
            if cmd["cmd"] == "exit":
                break
            task = loop.create_task(self.run(cmd))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        for group in self.groups.values():
            for conn in group.conns:
                conn.close()
        await asyncio.sleep(0.05)

    async def run(self, cmd: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"id": cmd["id"], "ok": True}
        try:
            handler = getattr(self, "cmd_" + cmd["cmd"])
            result = await handler(cmd)
            if result:
                reply.update(result)
        except Exception as e:  # noqa: BLE001 - reported to the controller, which aborts
            reply = {"id": cmd["id"], "ok": False, "error": f"{type(e).__name__}: {e}"}
        self.emit(reply)

    async def cmd_connect(self, cmd: dict[str, Any]) -> dict[str, Any]:
        group = self.groups.setdefault(cmd["group"], Group(cmd["group"], self.emit))
        host, port, path = cmd["host"], cmd["port"], cmd["path"]
        convex = cmd["protocol"] == "convex"
        spec = SubSpec(**cmd["subs"]) if cmd.get("subs") else None
        offset = cmd.get("offset", 0)
        timeout = cmd.get("timeout", 30.0)
        sem = asyncio.Semaphore(cmd.get("concurrency", 64))
        loop = asyncio.get_running_loop()
        started = time.perf_counter()

        async def one(i: int) -> None:
            async with sem:
                key = base64.b64encode(os.urandom(16)).decode()
                request = (
                    f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                ).encode()
                conn = Conn(group, offset + i, request)
                await loop.create_connection(lambda: conn, host, port)
                await asyncio.wait_for(conn.opened, timeout)
                group.conns.append(conn)
                if convex:
                    conn.send_text(
                        orjson.dumps(
                            {
                                "type": "Connect",
                                "sessionId": str(uuid.uuid4()),
                                "connectionCount": 0,
                                "lastCloseReason": "InitialConnect",
                                "clientTs": 0,
                            }
                        )
                    )
                    if spec is not None:
                        await self.subscribe(group, conn, spec, timeout)

        await asyncio.gather(*(one(i) for i in range(cmd["n"])))
        return {
            "connected": len(group.conns),
            "failed_queries": group.failed_queries,
            "elapsed_s": time.perf_counter() - started,
        }

    async def subscribe(self, group: Group, conn: Conn, spec: SubSpec, timeout: float) -> None:
        mods = []
        for args in spec.queries(conn.index):
            mods.append(
                {"type": "Add", "queryId": conn.next_query_id, "udfPath": spec.path, "args": [args]}
            )
            conn.next_query_id += 1
        conn.transition_waiter = asyncio.get_running_loop().create_future()
        conn.send_text(
            orjson.dumps(
                {
                    "type": "ModifyQuerySet",
                    "baseVersion": conn.query_set,
                    "newVersion": conn.query_set + 1,
                    "modifications": mods,
                }
            )
        )
        conn.query_set += 1
        payload = await asyncio.wait_for(conn.transition_waiter, timeout)
        conn.transition_waiter = None
        # Every added query must have a result, not an error.
        if b'"QueryFailed"' in payload or payload.count(b'"QueryUpdated"') != len(mods):
            group.failed_queries += 1
            if group.failed_queries == 1:
                raise RuntimeError(f"subscription failed: {payload[:400]!r}")

    async def cmd_subscribe(self, cmd: dict[str, Any]) -> dict[str, Any]:
        group = self.groups[cmd["group"]]
        spec = SubSpec(**cmd["subs"])
        sem = asyncio.Semaphore(cmd.get("concurrency", 64))
        started = time.perf_counter()

        async def one(conn: Conn) -> None:
            async with sem:
                await self.subscribe(group, conn, spec, cmd.get("timeout", 30.0))

        await asyncio.gather(*(one(c) for c in group.conns))
        return {"failed_queries": group.failed_queries, "elapsed_s": time.perf_counter() - started}

    async def cmd_arm(self, cmd: dict[str, Any]) -> None:
        self.groups[cmd["group"]].arm(cmd["marker"])

    async def cmd_status(self, cmd: dict[str, Any]) -> dict[str, Any]:
        group = self.groups[cmd["group"]]
        return {"pending": group.pending, "received": len(group.times), "lost": group.lost}

    async def cmd_reset_counts(self, cmd: dict[str, Any]) -> None:
        self.groups[cmd["group"]].reset_counts()

    async def cmd_counts(self, cmd: dict[str, Any]) -> dict[str, Any]:
        return self.groups[cmd["group"]].counts()

    async def cmd_close(self, cmd: dict[str, Any]) -> dict[str, Any]:
        group = self.groups.pop(cmd["group"], None)
        if group is None:
            return {"closed": 0}
        for conn in group.conns:
            conn.close()
        deadline = time.monotonic() + cmd.get("timeout", 10.0)
        while any(not c.closed for c in group.conns) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return {"closed": len(group.conns)}


def client_main() -> None:
    raise_nofile(1 << 20)
    install_uvloop()
    asyncio.run(ClientProcess().main())


# =============================================================================
# The bare broadcast baseline server
# =============================================================================


def baseline_message(marker: str, size: int) -> str:
    head = '{"type":"Broadcast","tag":"' + marker + '","pad":"'
    return head + "x" * max(0, size - len(head) - 2) + '"}'


async def baseline_main_async(ws_port: int, http_port: int) -> None:
    from websockets.asyncio.server import broadcast, serve

    clients: set[Any] = set()

    async def handler(ws: Any) -> None:
        clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Keep-alive, like the HTTP mutation that triggers Livebase's fan-out.
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = orjson.loads(await reader.readexactly(length)) if length else {}
                sent = 0
                if "marker" in body:
                    broadcast(clients, baseline_message(body["marker"], int(body["size"])))
                    sent = len(clients)
                out = orjson.dumps({"sent": sent, "clients": len(clients)})
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(out), out)
                )
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    # compression=None: Livebase doesn't negotiate permessage-deflate either.
    # backlog: asyncio's default of 100 drops SYNs when clients connect in
    # bursts (each drop costs a 1 s retransmit); uvicorn uses 2048.
    async with serve(
        handler, "127.0.0.1", ws_port, compression=None, max_size=16 << 20, backlog=2048
    ):
        server = await asyncio.start_server(http, "127.0.0.1", http_port)
        async with server:
            await asyncio.Event().wait()


def baseline_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ws-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    args = parser.parse_args(argv)
    raise_nofile(1 << 20)
    install_uvloop()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(baseline_main_async(args.ws_port, args.http_port))


# =============================================================================
# ``gclog``: the Livebase CLI with a log line per full garbage collection
# =============================================================================

GC_TAG = "[bench-gc]"
GC_OBJECTS_TAG = "[bench-gc-objects]"
GC_LOG_MIN_MS = 5.0


def gclog_main(argv: list[str]) -> None:
    """Run ``livebase <argv>`` in this process, writing
    ``[bench-gc] <end ns> <ms> <generation> <collected>`` to stderr after every
    garbage collection of generation 2 and every other one that took at least
    5 ms. A collection stops the world for a pass over every tracked object of
    the generations it collects, a number that grows with the connections.
    SIGUSR2 forces a full one (see ``forced_gc``)."""
    import gc

    started: list[float] = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        ms = 1000 * (time.perf_counter() - started[0])
        if info["generation"] == 2 or ms >= GC_LOG_MIN_MS:
            sys.stderr.write(
                f"{GC_TAG} {now_ns()} {ms:.1f} {info['generation']} {info['collected']}\n"
            )
            sys.stderr.flush()

    def collect_now(signum: int, frame: Any) -> None:
        # A full collection right now (logged by on_gc), and how many objects
        # it had to visit: the pause every full collection costs.
        tracked = len(gc.get_objects())
        gc.collect()
        sys.stderr.write(f"{GC_OBJECTS_TAG} {now_ns()} {tracked}\n")
        sys.stderr.flush()

    gc.callbacks.append(on_gc)
    signal.signal(signal.SIGUSR2, collect_now)
    from livebase.cli.main import main

    sys.argv = ["livebase", *argv]
    sys.exit(main())


def gc_pauses(server: Server, start_ns: int, end_ns: int) -> list[tuple[int, float]]:
    """(generation, ms) of the collections a ``gc_log`` server logged between two CLOCK_MONOTONIC times."""
    out = []
    for line in server.log_path.read_text(errors="replace").splitlines():
        if line.startswith(GC_TAG + " "):
            _, end, ms, generation, _ = line.split()
            if start_ns <= int(end) <= end_ns:
                out.append((int(generation), float(ms)))
    return out


async def forced_gc(server: Server, timeout: float = 15.0) -> tuple[float, int]:
    """Make a ``gc_log`` server run a full collection now: (pause ms, tracked objects)."""
    start = now_ns()
    os.kill(server.pid, signal.SIGUSR2)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        objects = None
        for line in server.log_path.read_text(errors="replace").splitlines():
            if line.startswith(GC_OBJECTS_TAG) and int(line.split()[1]) >= start:
                objects = int(line.split()[2])
        if objects is not None:
            full = [ms for generation, ms in gc_pauses(server, start, now_ns()) if generation == 2]
            return (full[-1] if full else float("nan")), objects
    raise RuntimeError(f"{server.label} did not report a forced collection within {timeout}s")


# =============================================================================
# Controller side
# =============================================================================


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    label: str
    proc: subprocess.Popen[bytes]
    host: str
    http_port: int
    ws_port: int
    ws_path: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        stop_process(self.proc)


def _load_libc() -> Any:
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        return ctypes.CDLL("libc.so.6", use_errno=True)
    return None


_LIBC = _load_libc() if sys.platform == "linux" else None


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it if the benchmark dies (even by
    SIGKILL), so no server outlives it. libc is loaded beforehand: nothing to
    import between fork and exec."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _spawn(cmd: list[str], log_path: Path, cwd: Path) -> subprocess.Popen[bytes]:
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=_die_with_parent,
        )
    finally:
        log.close()


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _wait_port(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"{server.label} exited with {server.proc.returncode}:\n{server.log_path.read_text()[-3000:]}"
            )
        try:
            with socket.create_connection((server.host, server.http_port), timeout=1) as s:
                s.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(
        f"{server.label} did not answer within {timeout}s:\n{server.log_path.read_text()[-3000:]}"
    )


def start_livebase(work: Path, name: str = "livebase", *, gc_log: bool = False) -> Server:
    """``livebase serve`` on a fresh copy of bench/apps/syncbench; with
    ``gc_log``, the same CLI run in-process by ``sync_common.py gclog``, which
    logs every long garbage collection (see ``gc_pauses``)."""
    project = work / name
    shutil.copytree(
        APP / "functions", project / "functions", ignore=shutil.ignore_patterns("__pycache__")
    )
    port, site_port = free_port(), free_port()
    exe = Path(sys.executable).with_name("livebase")
    if gc_log:
        prefix = [sys.executable, str(Path(__file__).resolve()), "gclog"]
    else:
        prefix = [str(exe)] if exe.exists() else [sys.executable, "-m", "livebase.cli.main"]
    cmd = [
        *prefix,
        "serve",
        "--dir",
        str(project),
        "--port",
        str(port),
        "--site-port",
        str(site_port),
    ]
    log_path = work / f"{name}.log"
    server = Server(
        "Livebase", _spawn(cmd, log_path, project), "127.0.0.1", port, port, "/api/sync", log_path
    )
    _wait_port(server)
    return server


def start_baseline(work: Path) -> Server:
    ws_port, http_port = free_port(), free_port()
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "baseline",
        "--ws-port",
        str(ws_port),
        "--http-port",
        str(http_port),
    ]
    log_path = work / "baseline.log"
    server = Server(
        "bare websockets",
        _spawn(cmd, log_path, work),
        "127.0.0.1",
        http_port,
        ws_port,
        "/",
        log_path,
    )
    _wait_port(server)
    return server


class HttpConn:
    """One keep-alive HTTP/1.1 connection; ``post`` returns (sent_ns, answered_ns, status, body).

    Hand-written so that the trigger time is taken right before the
    request's bytes are written, with no client library in between."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_used = 0.0

    # uvicorn closes keep-alive connections idle for 5 s: reopen before that
    # (outside the timed part) rather than write into a closing socket.
    MAX_IDLE_S = 2.0

    async def __aenter__(self) -> HttpConn:
        await self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._close()

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.last_used = time.monotonic()

    async def _close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
            self.writer = None

    async def post(self, path: str, body: Any, timeout: float = 30.0) -> tuple[int, int, int, Any]:
        if self.writer is None or time.monotonic() - self.last_used > self.MAX_IDLE_S:
            await self._close()
            await self._open()
        assert self.reader is not None and self.writer is not None
        data = orjson.dumps(body)
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        ).encode() + data
        sent = now_ns()
        self.writer.write(request)
        status, payload = await asyncio.wait_for(self._response(), timeout)
        answered = now_ns()
        self.last_used = time.monotonic()
        return sent, answered, status, orjson.loads(payload) if payload else None

    async def _response(self) -> tuple[int, bytes]:
        assert self.reader is not None
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length, chunked = None, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if length is not None:
            return status, await self.reader.readexactly(length)
        if not chunked:
            raise RuntimeError(f"response without a length: {head!r}")
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            chunk = await self.reader.readexactly(size + 2)
            if size == 0:
                return status, b"".join(parts)
            parts.append(chunk[:-2])


async def call_mutation(http: HttpConn, path: str, args: dict[str, Any]) -> tuple[int, int, Any]:
    """An HTTP mutation; returns (sent_ns, answered_ns, value); raises on any error."""
    sent, answered, status, body = await http.post(
        "/api/mutation", {"path": path, "args": args, "format": "json"}
    )
    if status != 200 or not isinstance(body, dict) or body.get("status") != "success":
        raise RuntimeError(f"mutation {path} failed: HTTP {status} {str(body)[:400]}")
    return sent, answered, body.get("value")


class ClientPool:
    """Client processes (``sync_common.py client``); a group's sockets are
    spread evenly over them."""

    def __init__(self, procs: int, work: Path) -> None:
        self.nprocs = procs
        self.work = work
        self.procs: list[asyncio.subprocess.Process] = []
        self.readers: list[asyncio.Task[None]] = []
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.ids = itertools.count()
        self.sizes: dict[str, list[int]] = {}

    async def __aenter__(self) -> ClientPool:
        for i in range(self.nprocs):
            log = open(self.work / f"client{i}.log", "ab")  # noqa: SIM115 - handed to the child
            try:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "client",
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=log,
                    limit=64 << 20,
                )
            finally:
                log.close()
            self.procs.append(proc)
            self.readers.append(asyncio.get_running_loop().create_task(self._read(i, proc)))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for proc in self.procs:
            if proc.returncode is None and proc.stdin is not None:
                with contextlib.suppress(Exception):
                    proc.stdin.write(b'{"cmd":"exit"}\n')
                    await proc.stdin.drain()
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for task in self.readers:
            task.cancel()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    async def _read(self, i: int, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            line = await proc.stdout.readline()
            if not line:
                err = RuntimeError(
                    f"client process {i} exited (see {self.work / f'client{i}.log'})"
                )
                for fut in self.pending.values():
                    if not fut.done():
                        fut.set_exception(err)
                return
            msg = orjson.loads(line)
            if "event" in msg:
                self.events.put_nowait(msg)
            else:
                fut = self.pending.pop(msg["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)

    async def _request(self, i: int, cmd: dict[str, Any], timeout: float) -> dict[str, Any]:
        cmd_id = next(self.ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[cmd_id] = fut
        stdin = self.procs[i].stdin
        assert stdin is not None
        stdin.write(orjson.dumps({**cmd, "id": cmd_id}) + b"\n")
        await stdin.drain()
        try:
            reply = await asyncio.wait_for(fut, timeout)
        finally:
            self.pending.pop(cmd_id, None)
        if not reply.get("ok"):
            raise RuntimeError(f"client process {i}: {cmd['cmd']} failed: {reply.get('error')}")
        return reply

    async def all(
        self, cmd: dict[str, Any], timeout: float, per_proc: list[dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        extra = per_proc or [{} for _ in self.procs]
        return list(
            await asyncio.gather(
                *(self._request(i, {**cmd, **extra[i]}, timeout) for i in range(len(self.procs)))
            )
        )

    async def connect(
        self,
        group: str,
        server: Server,
        n: int,
        *,
        convex: bool,
        subs: dict[str, Any] | None = None,
        timeout: float = 120.0,
        concurrency: int = 64,
    ) -> float:
        """Open ``n`` sockets (and subscribe them); returns the seconds it took."""
        shares = [n // self.nprocs + (1 if i < n % self.nprocs else 0) for i in range(self.nprocs)]
        offsets = [sum(shares[:i]) for i in range(self.nprocs)]
        self.sizes[group] = shares
        started = time.perf_counter()
        cmd = {
            "cmd": "connect",
            "group": group,
            "host": server.host,
            "port": server.ws_port,
            "path": server.ws_path,
            "protocol": "convex" if convex else "raw",
            "subs": subs,
            "timeout": timeout,
            "concurrency": concurrency,
        }
        replies = await self.all(
            cmd, timeout, [{"n": s, "offset": o} for s, o in zip(shares, offsets, strict=True)]
        )
        connected = sum(r["connected"] for r in replies)
        if connected != n:
            raise RuntimeError(f"{group}: only {connected} of {n} connections opened")
        return time.perf_counter() - started

    async def subscribe(self, group: str, subs: dict[str, Any], timeout: float = 120.0) -> float:
        started = time.perf_counter()
        await self.all(
            {"cmd": "subscribe", "group": group, "subs": subs, "timeout": timeout}, timeout
        )
        return time.perf_counter() - started

    async def arm(self, group: str, marker: str) -> None:
        while not self.events.empty():  # stale events of an aborted round
            self.events.get_nowait()
        await self.all({"cmd": "arm", "group": group, "marker": marker}, 10)

    async def wait_all(self, group: str, marker: str, timeout: float) -> tuple[list[int], int]:
        """Receive times (ns, CLOCK_MONOTONIC) of every socket in the group, and the message size."""
        expect = sum(1 for s in self.sizes[group] if s)
        times: list[int] = []
        size = 0
        deadline = time.monotonic() + timeout
        while expect:
            left = deadline - time.monotonic()
            try:
                ev = await asyncio.wait_for(self.events.get(), max(0.001, left))
            except TimeoutError:
                status = await self.all({"cmd": "status", "group": group}, 10)
                got = sum(s["received"] for s in status)
                raise RuntimeError(
                    f"{group}: only {got} of {sum(self.sizes[group])} sockets received {marker} within {timeout}s"
                ) from None
            if ev["group"] == group and ev["marker"] == marker:
                times.extend(ev["times"])
                size = ev["size"]
                expect -= 1
        return times, size

    async def reset_counts(self, group: str) -> None:
        await self.all({"cmd": "reset_counts", "group": group}, 10)

    async def counts(self, group: str) -> dict[str, int]:
        replies = await self.all({"cmd": "counts", "group": group}, 10)
        keys = ("conns", "messages", "transitions", "conns_with_messages", "pings", "lost")
        return {k: sum(r[k] for r in replies) for k in keys}

    async def close(self, group: str, timeout: float = 30.0) -> None:
        await self.all({"cmd": "close", "group": group, "timeout": timeout}, timeout + 5)
        self.sizes.pop(group, None)


# -- measurements ----------------------------------------------------------------------


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def settled_rss(pid: int, timeout: float = 8.0) -> int:
    """RSS once it stops moving (two readings 0.5 s apart within 0.5 %), bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    last = rss_bytes(pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        cur = rss_bytes(pid)
        if abs(cur - last) <= 0.005 * last:
            return cur
        last = cur
    return last


def nofile_limit(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            value = line.split()[3]
            return 1 << 62 if value == "unlimited" else int(value)
    raise RuntimeError(f"no open-files limit for pid {pid}")


def cpu_seconds(pid: int) -> float:
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    return 0.0


def machine_busy_seconds() -> float:
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    values = [int(x) for x in fields]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / CLK_TCK


class CpuMeter:
    """CPU used by our processes and by everything else during a stretch of time."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.pids = pids
        self.start()

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.busy0 = machine_busy_seconds()
        self.cpu0 = {k: sum(cpu_seconds(p) for p in v) for k, v in self.pids.items()}

    def read(self) -> dict[str, float]:
        wall = max(1e-9, time.monotonic() - self.t0)
        ours = {k: sum(cpu_seconds(p) for p in v) - self.cpu0[k] for k, v in self.pids.items()}
        other = max(0.0, machine_busy_seconds() - self.busy0 - sum(ours.values()))
        out = {f"{k}_cpu_pct": 100 * v / wall for k, v in ours.items()}
        out["other_cpu_pct"] = 100 * other / wall
        return out


async def wait_quiet(max_wait: float, threshold_pct: float = 25.0, window_s: int = 3) -> None:
    """Wait (at most ``max_wait`` s) until the machine's whole CPU use stays
    under ``threshold_pct`` of one core for ``window_s`` seconds in a row:
    other work on a 2-core box skews every figure."""
    if max_wait <= 0:
        return
    deadline = time.monotonic() + max_wait
    quiet = 0
    last = -1.0
    while time.monotonic() < deadline:
        busy0 = machine_busy_seconds()
        await asyncio.sleep(1.0)
        last = 100 * (machine_busy_seconds() - busy0)
        quiet = quiet + 1 if last < threshold_pct else 0
        if quiet >= window_s:
            print(f"machine quiet: {last:.0f}% of a core busy over the last second")
            return
    print(
        f"WARNING: the machine did not get quiet within {max_wait:.0f} s ({last:.0f}% of a core busy): figures will be noisy"
    )


class Profiler:
    """``py-spy record`` of one process for a fixed time; raw collapsed stacks to a file."""

    def __init__(self, pid: int, out: Path, seconds: float) -> None:
        self.pid, self.out, self.seconds = pid, out, seconds
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> bool:
        pyspy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(pyspy).exists():
            print("profiling needs py-spy: .venv/bin/pip install py-spy")
            return False
        cmd = [
            pyspy,
            "record",
            "--pid",
            str(self.pid),
            "--rate",
            "1000",
            "--format",
            "raw",
            "--nonblocking",
            "--duration",
            str(int(self.seconds)),
            "--output",
            str(self.out),
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return True

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def finish(self) -> None:
        proc = self.proc
        if proc is None:
            return
        try:
            _, err = await asyncio.to_thread(proc.communicate, timeout=self.seconds + 30)
            if proc.returncode:
                print(f"py-spy failed: {err.decode()[-500:]}")
            else:
                print(summarize_profile(self.out))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def summarize_profile(path: Path, top: int = 20) -> str:
    """Where the samples are: inclusive share of the interesting frames, and self time by line."""
    total = 0
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for name in {
            f.rsplit(":", 1)[0] + ")"
            for f in frames
            if any(m in f for m in ("livebase/", "uvicorn/", "websockets/", "starlette/", "sqlite"))
        }:
            incl[name] = incl.get(name, 0) + n
    if not total:
        return f"no samples in {path}"
    lines = [f"py-spy: {total} samples of the Livebase server ({path}); inclusive share:"]
    lines += [
        f"  {100 * v / total:5.1f}%  {k}"
        for k, v in sorted(incl.items(), key=lambda kv: -kv[1])[:top]
    ]
    lines.append(
        "self time (innermost Python line; native calls such as socket writes count here):"
    )
    lines += [
        f"  {100 * v / total:5.1f}%  {k}"
        for k, v in sorted(own.items(), key=lambda kv: -kv[1])[:top]
    ]
    return "\n".join(lines)


def median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    if n == 0:
        return float("nan")
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def percentile(xs: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(xs)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


def machine_info() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import websockets

    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "websockets": websockets.__version__,
        "loadavg": os.getloadavg(),
    }


def print_machine(info: dict[str, Any]) -> None:
    load = ", ".join(f"{x:.2f}" for x in info["loadavg"])
    print(
        f"{info['date']} | {info['cores']} cores ({info['cpu']}), shared by server and clients | "
        f"Python {info['python']}, websockets {info['websockets']} | load avg before: {load}"
    )


def run(coro_fn: Callable[[], Any]) -> Any:
    """Run the controller on uvloop; Ctrl-C still runs every cleanup (``finally``)."""
    install_uvloop()
    return asyncio.run(coro_fn())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        client_main()
    elif len(sys.argv) > 1 and sys.argv[1] == "baseline":
        baseline_main(sys.argv[2:])
    elif len(sys.argv) > 1 and sys.argv[1] == "gclog":
        gclog_main(sys.argv[2:])
    else:
        sys.exit(
            "usage: sync_common.py client | baseline --ws-port P --http-port P | gclog <livebase args> "
            "(started by bench/sync_*.py)"
        )
