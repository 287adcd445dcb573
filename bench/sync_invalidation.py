"""Invalidation cost: does a commit get slower when many unrelated queries are subscribed?

    .venv/bin/python bench/sync_invalidation.py           # 0, 2,000, 10,000 subscriptions; 16 s each (~1.5 min)
    .venv/bin/python bench/sync_invalidation.py --quick   # 0, 2,000; 4 s each

On a ``livebase serve`` of bench/apps/syncbench, the benchmark times
sequential HTTP mutations ``messages:send {"channel":"hot"}`` (one insert,
answered after its commit) on one keep-alive connection: the round trip
from writing the request to reading the answer, median and p99, over at
least 300 commits and 16 s per phase (a full keep-alive period of the
server, whose periodic work for idle connections then shows in the tail).

It does so with no subscriptions, then with 2,000, then with 10,000
subscriptions to ``messages:list {"channel":"c<i>"}``, every one to a
different channel (one per WebSocket connection by default), none of which
is "hot": their read sets (one by_channel range each) don't contain the
written keys. Then it checks that these subscribers received no Transition
during the measurement, that a write to one of their channels does reach
exactly that subscriber (so the check can fail), and measures again with
no subscriptions ("0, again") to show drift over the run.

Every channel holds one message from the start, so the database is the
same in every phase. The issue's target: 2,000 unrelated subscriptions slow
a commit by at most 1.5×. See bench/SYNC.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync_common import (  # the bench folder is not a package: see sys.path above
    ClientPool,
    CpuMeter,
    HttpConn,
    Profiler,
    Server,
    call_mutation,
    cpu_seconds,
    forced_gc,
    gc_pauses,
    machine_info,
    median,
    nofile_limit,
    now_ns,
    percentile,
    print_machine,
    raise_nofile,
    run,
    start_livebase,
    wait_quiet,
)

TARGET_SUBS = 2000
TARGET_RATIO = 1.5
BODY = "a message of a typical chat length, about sixty bytes long."


async def measure(
    http: HttpConn,
    server: Server,
    bench_pids: list[int],
    label: str,
    min_n: int,
    seconds: float,
    warmup: int,
) -> dict[str, Any]:
    """Sequential commits: at least ``min_n`` and for at least ``seconds``, so
    that the server's periodic work (keep-alive pings every 15-20 s per
    connection) falls inside the window as often as it would in production."""
    for _ in range(warmup):
        await call_mutation(http, "messages:send", {"channel": "hot", "body": BODY})
    latencies = []
    meter = CpuMeter({"server": [server.pid], "bench": bench_pids})
    cpu0 = cpu_seconds(server.pid)
    end = time.monotonic() + seconds
    start_ns = now_ns()
    while len(latencies) < min_n or time.monotonic() < end:
        sent, answered, _ = await call_mutation(
            http, "messages:send", {"channel": "hot", "body": BODY}
        )
        latencies.append((answered - sent) / 1e6)
    cpu = meter.read()
    n = len(latencies)
    await asyncio.sleep(0.1)  # the log line of a collection that ended the phase
    pauses = gc_pauses(server, start_ns, now_ns())
    return {
        "label": label,
        "n": n,
        "seconds": seconds,
        "median_ms": median(latencies),
        "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99),
        "p999_ms": percentile(latencies, 99.9),
        "max_ms": max(latencies),
        "server_cpu_ms_per_commit": 1000 * (cpu_seconds(server.pid) - cpu0) / n,
        "bench_cpu_pct": cpu["bench_cpu_pct"],
        "other_cpu_pct": cpu["other_cpu_pct"],
        "gc_pauses": pauses,
        "latencies_ms": latencies,
    }


async def seed(http: HttpConn, channels: int) -> None:
    batch = 500
    for start in range(0, channels, batch):
        count = min(batch, channels - start)
        await call_mutation(
            http, "messages:seed", {"prefix": "c", "start": start, "count": count, "body": BODY}
        )


async def expect_silence(pool: ClientPool, groups: list[str], label: str) -> dict[str, int]:
    """The unrelated subscribers got nothing but (at most) keep-alive Pings."""
    total = {"transitions": 0, "messages": 0, "conns_with_messages": 0, "pings": 0, "lost": 0}
    for g in groups:
        counts = await pool.counts(g)
        for key in total:
            total[key] += counts[key]
    if total["messages"] or total["lost"]:
        raise RuntimeError(
            f"{label}: unrelated subscribers received {total} during the measurement"
        )
    return total


async def expect_delivery(
    pool: ClientPool, http: HttpConn, groups: list[str], channel_group: str
) -> None:
    """A write to channel c5 reaches its one subscriber and nobody else."""
    for g in groups:
        await pool.reset_counts(g)
    await call_mutation(http, "messages:send", {"channel": "c5", "body": BODY})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if (await pool.counts(channel_group))["transitions"] >= 1:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # anything else that was going to arrive
    got = {g: (await pool.counts(g))["transitions"] for g in groups}
    want = {g: 1 if g == channel_group else 0 for g in groups}
    if got != want:
        raise RuntimeError(
            f"a write to channel c5 should reach exactly its subscriber: Transitions per group {got}"
        )


async def profile(http: HttpConn, server: Server, out: Path, seconds: float, subs: int) -> None:
    """py-spy the server while it takes sequential commits with ``subs`` unrelated subscriptions."""
    profiler = Profiler(server.pid, out, seconds)
    if not profiler.start():
        return
    try:
        await asyncio.sleep(1.0)  # py-spy attaches
        deadline = time.monotonic() + seconds - 1.5
        n = 0
        while time.monotonic() < deadline and profiler.running():
            await call_mutation(http, "messages:send", {"channel": "hot", "body": BODY})
            n += 1
        print(f"profiled {n} commits with {subs:,} unrelated subscriptions")
    finally:
        await profiler.finish()


def print_table(rows: list[dict[str, Any]], gc_log: bool) -> None:
    base = rows[0]
    print()
    print(
        "HTTP mutation round trip in ms (one insert into channel 'hot'), sequential, one keep-alive connection:"
    )
    print(
        f"{'subscriptions':>18} {'commits':>7} | {'median':>7} {'p90':>7} {'p99':>7} {'p99.9':>7} {'max':>7} | "
        f"{'x median':>8} {'x p99':>6} | {'srv CPU/commit':>14} {'bench CPU':>9} {'other CPU':>9}"
    )
    for r in rows:
        mark = ""
        if r.get("subs") == TARGET_SUBS:
            ok = r["median_ms"] <= TARGET_RATIO * base["median_ms"]
            mark = f"  target <= {TARGET_RATIO}x: {'met' if ok else 'MISSED'}"
        print(
            f"{r['label']:>18} {r['n']:>7} | {r['median_ms']:>7.2f} {r['p90_ms']:>7.2f} {r['p99_ms']:>7.2f} "
            f"{r['p999_ms']:>7.2f} {r['max_ms']:>7.1f} | {r['median_ms'] / base['median_ms']:>7.2f}x {r['p99_ms'] / base['p99_ms']:>5.2f}x | "
            f"{r['server_cpu_ms_per_commit']:>11.2f} ms {r['bench_cpu_pct']:>8.0f}% {r['other_cpu_pct']:>8.0f}%{mark}"
        )
    if gc_log:
        print(
            "Garbage collections in the server that took >= 5 ms (and all full ones) during each phase,"
        )
        print("then a full one forced right after the phase (objects it visited, and its pause):")
        for r in rows:
            pauses = r["gc_pauses"]
            detail = ", ".join(f"gen{g} {ms:.0f} ms" for g, ms in pauses) if pauses else "none"
            forced = ""
            if "forced_gc" in r:
                ms, objects = r["forced_gc"]
                forced = f"; forced: {objects:,} objects, {ms:.0f} ms"
            print(f"  {r['label']:>18}: {detail}{forced}")


async def main(args: argparse.Namespace) -> int:
    levels = (
        [int(x) for x in args.subs.split(",")]
        if args.subs
        else ([2000] if args.quick else [2000, 10000])
    )
    n = args.mutations or (150 if args.quick else 300)
    seconds = args.seconds if args.seconds is not None else (4.0 if args.quick else 16.0)
    warmup = 30 if args.quick else 50
    per_conn = args.per_conn
    await wait_quiet(args.wait_quiet)
    info = machine_info()
    print_machine(info)
    print(
        f"invalidation: subscriptions {levels} ({per_conn} per connection); per phase at least {n} commits "
        f"and {seconds:g} s (+{warmup} warm-up)"
    )
    max_subs = max(levels)
    raise_nofile(2 * max_subs // per_conn + 1000)
    work = Path(tempfile.mkdtemp(prefix="livebase-sync-invalidation-"))
    server: Server | None = None
    rows: list[dict[str, Any]] = []
    try:
        server = start_livebase(work, gc_log=args.gc_log)
        limit = nofile_limit(server.pid)
        conns_needed = max_subs // per_conn
        if limit < conns_needed + 200:
            print(
                f"WARNING: the server may open only {limit} files; {conns_needed} connections need more "
                f"(raise `ulimit -n` before running)"
            )
        async with (
            ClientPool(args.procs, work) as pool,
            HttpConn(server.host, server.http_port) as http,
        ):
            bench_pids = [os.getpid(), *pool.pids]
            await seed(http, max_subs)
            rows.append(await measure(http, server, bench_pids, "0", n, seconds, warmup))
            if args.gc_log:
                rows[-1]["forced_gc"] = await forced_gc(server)
            print(f"  0 subscriptions: median {rows[-1]['median_ms']:.2f} ms", flush=True)
            groups: list[str] = []
            have = 0
            for level in levels:
                add = level - have
                group = f"s{level}"
                subs = {
                    "path": "messages:list",
                    "field": "channel",
                    "prefix": "c",
                    "start": have,
                    "per_conn": per_conn,
                }
                took = await pool.connect(group, server, add // per_conn, convex=True, subs=subs)
                groups.append(group)
                have = level
                print(
                    f"  {level} subscriptions: {add} added over {add // per_conn} connections in {took:.1f} s",
                    flush=True,
                )
                for g in groups:
                    await pool.reset_counts(g)
                row = await measure(
                    http, server, bench_pids, f"{level:,} unrelated", n, seconds, warmup
                )
                if args.gc_log:
                    row["forced_gc"] = await forced_gc(server)
                row["subs"] = level
                await asyncio.sleep(0.3)  # late deliveries would show up now
                row["subscriber_counts"] = await expect_silence(pool, groups, row["label"])
                rows.append(row)
                print(
                    f"  {level} subscriptions: median {row['median_ms']:.2f} ms; subscribers received "
                    f"{row['subscriber_counts']['transitions']} Transitions",
                    flush=True,
                )
            if args.profile:
                await profile(http, server, Path(args.profile), args.profile_seconds, have)
            await expect_delivery(pool, http, groups, groups[0])
            print("  check: a write to channel c5 reached its subscriber and no other")
            for g in groups:
                await pool.close(g)
            await asyncio.sleep(0.5)
            rows.append(await measure(http, server, bench_pids, "0, again", n, seconds, warmup))
            if args.gc_log:
                rows[-1]["forced_gc"] = await forced_gc(server)
        print_table(rows, args.gc_log)
        if args.out:
            Path(args.out).write_text(json.dumps({"machine": info, "rows": rows}, indent=2))
            print(f"all latencies saved to {args.out}")
        target = next((r for r in rows if r.get("subs") == TARGET_SUBS), None)
        missed = target is not None and target["median_ms"] > TARGET_RATIO * rows[0]["median_ms"]
        return 1 if missed and args.strict else 0
    finally:
        if server is not None:
            server.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(work)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="only 2,000 subscriptions; 150 commits and 4 s per phase",
    )
    p.add_argument(
        "--subs", help="comma-separated, increasing subscription counts (default 2000,10000)"
    )
    p.add_argument(
        "--mutations", type=int, help="at least this many measured commits per phase (default 300)"
    )
    p.add_argument(
        "--seconds", type=float, help="and for at least this long (default 16; --quick 4)"
    )
    p.add_argument(
        "--per-conn", type=int, default=1, help="subscriptions per WebSocket connection (default 1)"
    )
    p.add_argument("--procs", type=int, default=2, help="client processes (default 2)")
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="S",
        help="first wait up to S seconds for the machine to be idle (other load skews the figures)",
    )
    p.add_argument("--out", help="write every latency as JSON to this file")
    p.add_argument(
        "--gc-log",
        action="store_true",
        help="run the server's CLI under a hook that logs long garbage collections; show them per phase",
    )
    p.add_argument(
        "--profile",
        metavar="FILE",
        help="after the last phase, py-spy the server during more commits",
    )
    p.add_argument("--profile-seconds", type=float, default=12.0)
    p.add_argument(
        "--strict", action="store_true", help="exit 1 if the 2,000-subscription target is missed"
    )
    return p.parse_args()


if __name__ == "__main__":
    sys.exit(run(lambda: main(parse_args())))
