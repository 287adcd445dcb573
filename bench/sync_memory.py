"""Memory: server RSS per idle WebSocket connection and per subscription.

    .venv/bin/python bench/sync_memory.py           # 5,000 connections
    .venv/bin/python bench/sync_memory.py --quick   # 2,000 connections

For each of two fresh ``livebase serve`` processes (bench/apps/syncbench,
every channel c<i> seeded with one message) it reads the server's VmRSS
from /proc/<pid>/status once it has settled:

1. with no connections (after a small warm-up of 20 connections that
   subscribed and left, so one-time costs aren't charged per connection);
2. with N idle connections (WebSocket open, ``Connect`` sent, no queries);
3. with each of those connections subscribed to one query:
   * first server: N **distinct** queries ``messages:list {"channel":"c<i>"}``;
   * second server: one **shared** query ``messages:list {"channel":"c0"}``;
4. after closing them all (memory handed back, or kept by the allocator).

Baseline for context: a bare ``websockets`` asyncio server with the same N
idle connections. The client processes raise their open-files limit; the
benchmark reads the servers' limit from /proc/<pid>/limits and says so if
it is below N. See bench/SYNC.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync_common import (  # the bench folder is not a package: see sys.path above
    ClientPool,
    HttpConn,
    Server,
    call_mutation,
    machine_info,
    nofile_limit,
    print_machine,
    raise_nofile,
    run,
    settled_rss,
    start_baseline,
    start_livebase,
    wait_quiet,
)

BODY = "a message of a typical chat length, about sixty bytes long."
WARMUP_CONNS = 20
MB = 1 << 20


def check_limit(server: Server, n: int) -> int:
    """How many connections this server can take; says so if fewer than asked."""
    limit = nofile_limit(server.pid)
    print(f"  {server.label} (pid {server.pid}): open-files limit {limit}")
    usable = limit - 100  # listening sockets, the database, logs
    if usable < n:
        print(
            f"WARNING: {server.label} (pid {server.pid}) may open only {limit} files: "
            f"measuring {usable} connections instead of {n} (raise `ulimit -n` to measure more)"
        )
        return usable
    return n


async def livebase_run(pool: ClientPool, work: Path, n: int, mode: str) -> dict[str, Any]:
    server = start_livebase(work, f"livebase-{mode}")
    try:
        n = check_limit(server, n)
        async with HttpConn(server.host, server.http_port) as http:
            for start in range(0, n, 500):
                await call_mutation(
                    http,
                    "messages:seed",
                    {"prefix": "c", "start": start, "count": min(500, n - start), "body": BODY},
                )
        # Warm-up: code paths, caches and pools that exist once, not per connection.
        warm = {
            "path": "messages:list",
            "field": "channel",
            "prefix": "w",
            "start": 0,
            "per_conn": 1,
        }
        await pool.connect("warm", server, WARMUP_CONNS, convex=True, subs=warm)
        await pool.close("warm")
        rss0 = await settled_rss(server.pid)
        t_conn = await pool.connect("idle", server, n, convex=True)
        rss1 = await settled_rss(server.pid)
        if mode == "distinct":
            subs: dict[str, Any] = {
                "path": "messages:list",
                "field": "channel",
                "prefix": "c",
                "start": 0,
                "per_conn": 1,
            }
        else:
            subs = {"path": "messages:list", "args": {"channel": "c0"}}
        t_sub = await pool.subscribe("idle", subs)
        rss2 = await settled_rss(server.pid)
        counts = await pool.counts("idle")
        if counts["lost"]:
            raise RuntimeError(f"{counts['lost']} connections were closed by the server")
        await pool.close("idle")
        rss3 = await settled_rss(server.pid)
        print(
            f"  Livebase, {mode}: {n} connections in {t_conn:.1f} s, subscribed in {t_sub:.1f} s; "
            f"RSS {rss0 / MB:.1f} -> {rss1 / MB:.1f} -> {rss2 / MB:.1f} MB (after closing: {rss3 / MB:.1f} MB)",
            flush=True,
        )
        return {
            "mode": mode,
            "n": n,
            "rss_empty": rss0,
            "rss_idle": rss1,
            "rss_subscribed": rss2,
            "rss_after_close": rss3,
            "per_conn": (rss1 - rss0) / n,
            "per_sub": (rss2 - rss1) / n,
        }
    finally:
        server.stop()


async def baseline_run(pool: ClientPool, work: Path, n: int) -> dict[str, Any]:
    server = start_baseline(work)
    try:
        n = check_limit(server, n)
        await pool.connect("warm", server, WARMUP_CONNS, convex=False)
        await pool.close("warm")
        rss0 = await settled_rss(server.pid)
        t_conn = await pool.connect("bare", server, n, convex=False)
        rss1 = await settled_rss(server.pid)
        await pool.close("bare")
        print(
            f"  bare websockets: {n} connections in {t_conn:.1f} s; RSS {rss0 / MB:.1f} -> {rss1 / MB:.1f} MB",
            flush=True,
        )
        return {"n": n, "rss_empty": rss0, "rss_idle": rss1, "per_conn": (rss1 - rss0) / n}
    finally:
        server.stop()


def print_table(runs: list[dict[str, Any]], bare: dict[str, Any]) -> None:
    print()
    print("Server RSS (VmRSS), settled:")
    print(
        f"{'server':>26} {'conns':>6} | {'empty':>8} {'idle':>8} {'subscribed':>10} | {'per idle conn':>13} {'per subscription':>16}"
    )
    for r in runs:
        print(
            f"{'Livebase, ' + r['mode'] + ' queries':>26} {r['n']:>6} | {r['rss_empty'] / MB:>6.1f}MB {r['rss_idle'] / MB:>6.1f}MB "
            f"{r['rss_subscribed'] / MB:>8.1f}MB | {r['per_conn'] / 1024:>10.1f} kB {r['per_sub'] / 1024:>13.1f} kB"
        )
    print(
        f"{'bare websockets':>26} {bare['n']:>6} | {bare['rss_empty'] / MB:>6.1f}MB {bare['rss_idle'] / MB:>6.1f}MB "
        f"{'-':>10} | {bare['per_conn'] / 1024:>10.1f} kB {'-':>16}"
    )
    idle = sum(r["per_conn"] for r in runs) / len(runs)
    print(f"Livebase idle connection / bare websockets connection: {idle / bare['per_conn']:.2f}x")


async def main(args: argparse.Namespace) -> int:
    n = args.conns or (2000 if args.quick else 5000)
    await wait_quiet(args.wait_quiet)
    info = machine_info()
    print_machine(info)
    print(f"memory: {n} connections, {args.procs} client processes")
    soft = raise_nofile(2 * n + 1000)  # the client processes inherit it and raise it further
    if soft < n + 100:
        print(
            f"WARNING: this process may open only {soft} files; the clients may fail to open {n} connections"
        )
    work = Path(tempfile.mkdtemp(prefix="livebase-sync-memory-"))
    try:
        async with ClientPool(args.procs, work) as pool:
            runs = [
                await livebase_run(pool, work, n, "distinct"),
                await livebase_run(pool, work, n, "shared"),
            ]
            bare = await baseline_run(pool, work, n)
        print_table(runs, bare)
        if args.out:
            Path(args.out).write_text(
                json.dumps({"machine": info, "livebase": runs, "bare": bare}, indent=2)
            )
            print(f"saved to {args.out}")
        return 0
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(work)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="2,000 connections")
    p.add_argument("--conns", type=int, help="connections (default 5000)")
    p.add_argument("--procs", type=int, default=2, help="client processes (default 2)")
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="S",
        help="first wait up to S seconds for the machine to be idle (other load skews the figures)",
    )
    p.add_argument("--out", help="write the readings as JSON to this file")
    return p.parse_args()


if __name__ == "__main__":
    sys.exit(run(lambda: main(parse_args())))
