"""Fan-out: how long one commit takes to reach K subscribers, next to a bare broadcast.

    .venv/bin/python bench/sync_fanout.py            # K = 100, 500, 1000; 21 rounds each (~20 s)
    .venv/bin/python bench/sync_fanout.py --quick    # K = 100, 500; 5 rounds
    .venv/bin/python bench/sync_fanout.py --profile /tmp/fanout.txt   # + py-spy on Livebase at K=500

K sockets subscribe to one query (``counter:get {"name":"fan"}``) on a
``livebase serve`` of bench/apps/syncbench. One HTTP mutation
(``counter:set``) changes the query's result; we measure from the moment
the request's bytes are written until the last of the K sockets has received
the Transition carrying the new value (its ``tag`` is a per-round marker).

Baseline, in the same run and against the same client processes: a bare
``websockets`` asyncio server (uvloop) holding K other sockets; one HTTP
request makes it ``websockets.broadcast()`` one message of the same size
as Livebase's Transition. Timed the same way: request written → all K
received. Rounds alternate between the two. Receive times come from the
client processes' CLOCK_MONOTONIC, the same clock as the trigger's.

The issue's target: at K=500, Livebase within 3× the bare broadcast.
See bench/SYNC.md.
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
    machine_info,
    median,
    print_machine,
    raise_nofile,
    run,
    start_baseline,
    start_livebase,
    wait_quiet,
)

TARGET_K = 500
TARGET_RATIO = 3.0
ROUND_TIMEOUT_S = 20.0
QUERY = {"path": "counter:get", "args": {"name": "fan"}}


class Bench:
    def __init__(
        self,
        pool: ClientPool,
        lb: Server,
        bl: Server,
        lb_http: HttpConn,
        bl_http: HttpConn,
        pad: str,
    ) -> None:
        self.pool, self.lb, self.bl, self.lb_http, self.bl_http, self.pad = (
            pool,
            lb,
            bl,
            lb_http,
            bl_http,
            pad,
        )
        self.seq = 0
        self.size = 0  # Livebase's Transition size: the baseline sends this many bytes

    def marker(self) -> str:
        self.seq += 1
        return f"R{self.seq};"

    async def livebase_round(self, group: str, k: int) -> dict[str, float]:
        marker = self.marker()
        await self.pool.arm(group, marker)
        sent, answered, _ = await call_mutation(
            self.lb_http, "counter:set", {"name": "fan", "tag": marker, "pad": self.pad}
        )
        times, size = await self.pool.wait_all(group, marker, ROUND_TIMEOUT_S)
        assert len(times) == k
        self.size = size
        return _round(sent, answered, times, size)

    async def baseline_round(self, group: str, k: int) -> dict[str, float]:
        marker = self.marker()
        await self.pool.arm(group, marker)
        sent, answered, status, body = await self.bl_http.post(
            "/broadcast", {"marker": marker, "size": self.size}
        )
        if status != 200 or body.get("sent") != k:
            raise RuntimeError(f"baseline broadcast reached {body} of {k} sockets (HTTP {status})")
        times, size = await self.pool.wait_all(group, marker, ROUND_TIMEOUT_S)
        assert len(times) == k
        return _round(sent, answered, times, size)


def _round(sent: int, answered: int, times: list[int], size: int) -> dict[str, float]:
    times.sort()
    return {
        "all_ms": (times[-1] - sent) / 1e6,
        "first_ms": (times[0] - sent) / 1e6,
        "p50_ms": (times[len(times) // 2] - sent) / 1e6,
        "response_ms": (answered - sent) / 1e6,
        "size": size,
    }


async def measure_k(bench: Bench, k: int, rounds: int, warmup: int) -> dict[str, Any]:
    pool = bench.pool
    lb_group, bl_group = f"lb{k}", f"bl{k}"
    t_lb = await pool.connect(lb_group, bench.lb, k, convex=True, subs=QUERY)
    t_bl = await pool.connect(bl_group, bench.bl, k, convex=False)
    try:
        print(
            f"  K={k}: connected + subscribed in {t_lb:.1f} s (Livebase), connected in {t_bl:.1f} s (bare)",
            flush=True,
        )
        for _ in range(warmup):
            await bench.livebase_round(lb_group, k)
            await bench.baseline_round(bl_group, k)
        meter = CpuMeter(
            {
                "livebase": [bench.lb.pid],
                "baseline": [bench.bl.pid],
                "clients": [os.getpid(), *pool.pids],
            }
        )
        lb_rounds, bl_rounds = [], []
        for r in range(rounds):
            # Alternate which side goes first, so drift hits both alike.
            if r % 2 == 0:
                lb_rounds.append(await bench.livebase_round(lb_group, k))
                await asyncio.sleep(0.05)
                bl_rounds.append(await bench.baseline_round(bl_group, k))
            else:
                bl_rounds.append(await bench.baseline_round(bl_group, k))
                await asyncio.sleep(0.05)
                lb_rounds.append(await bench.livebase_round(lb_group, k))
            await asyncio.sleep(0.05)
        cpu = meter.read()
        counts = await pool.counts(lb_group)
        if counts["lost"]:
            raise RuntimeError(
                f"K={k}: {counts['lost']} Livebase sockets were closed during the rounds"
            )
        # One Transition per socket for the subscription, then one per commit: no more, no fewer.
        expected = k * (1 + warmup + rounds)
        if counts["transitions"] != expected:
            raise RuntimeError(
                f"K={k}: the sockets received {counts['transitions']} Transitions, expected {expected}"
            )
    finally:
        await pool.close(lb_group)
        await pool.close(bl_group)

    def summary(rs: list[dict[str, float]]) -> dict[str, float]:
        return {
            key: median([r[key] for r in rs])
            for key in ("all_ms", "first_ms", "p50_ms", "response_ms")
        }

    lb, bl = summary(lb_rounds), summary(bl_rounds)
    return {
        "k": k,
        "size": bench.size,
        "livebase": lb,
        "baseline": bl,
        "ratio": lb["all_ms"] / bl["all_ms"],
        "rounds": {"livebase": lb_rounds, "baseline": bl_rounds},
        "cpu": cpu,
    }


def print_table(results: list[dict[str, Any]]) -> None:
    print()
    print(
        "Milliseconds from writing the trigger request until the last ('all'), the first and the median socket"
    )
    print(
        "of K received the new value; 'HTTP' = until the trigger's own response arrived (medians over rounds):"
    )
    print(
        f"{'K':>6} {'msg B':>6} | {'Livebase all':>12} {'first':>6} {'p50':>6} {'HTTP':>6} | "
        f"{'bare all':>8} {'first':>6} {'p50':>6} | {'ratio':>6}"
    )
    for r in results:
        lb, bl = r["livebase"], r["baseline"]
        mark = ""
        if r["k"] == TARGET_K:
            mark = f"  target <= {TARGET_RATIO:.0f}x: {'met' if r['ratio'] <= TARGET_RATIO else 'MISSED'}"
        print(
            f"{r['k']:>6} {r['size']:>6} | {lb['all_ms']:>12.2f} {lb['first_ms']:>6.2f} {lb['p50_ms']:>6.2f} "
            f"{lb['response_ms']:>6.2f} | {bl['all_ms']:>8.2f} {bl['first_ms']:>6.2f} {bl['p50_ms']:>6.2f} | "
            f"{r['ratio']:>5.2f}x{mark}"
        )
    print()
    print(
        "CPU during the measured rounds (% of one core; 'other' = everything else on the machine):"
    )
    for r in results:
        cpu = " ".join(f"{k.removesuffix('_cpu_pct')} {v:.0f}%" for k, v in r["cpu"].items())
        print(f"  K={r['k']}: {cpu}")


async def profile(bench: Bench, k: int, out: Path, seconds: float) -> None:
    """Sample the Livebase server with py-spy while it fans out to K sockets, round after round."""
    group = f"prof{k}"
    await bench.pool.connect(group, bench.lb, k, convex=True, subs=QUERY)
    profiler = Profiler(bench.lb.pid, out, seconds)
    try:
        if not profiler.start():
            return
        await asyncio.sleep(1.0)  # py-spy attaches
        deadline = time.monotonic() + seconds - 1.5
        n = 0
        while time.monotonic() < deadline and profiler.running():
            await bench.livebase_round(group, k)
            await asyncio.sleep(0.01)
            n += 1
        print(f"profiled {n} fan-out rounds to K={k}")
    finally:
        await profiler.finish()
        await bench.pool.close(group)


async def main(args: argparse.Namespace) -> int:
    ks = (
        [int(x) for x in args.k.split(",")]
        if args.k
        else ([100, 500] if args.quick else [100, 500, 1000])
    )
    rounds = args.rounds or (5 if args.quick else 21)
    warmup = 1 if args.quick else 2
    await wait_quiet(args.wait_quiet)
    info = machine_info()
    print_machine(info)
    print(
        f"fan-out: K = {ks}, {rounds} rounds (+{warmup} warm-up) each, {args.procs} client processes, pad {args.payload} B"
    )
    raise_nofile(4 * max(ks) + 1000)  # the client processes inherit it
    work = Path(tempfile.mkdtemp(prefix="livebase-sync-fanout-"))
    servers: list[Server] = []
    try:
        lb = start_livebase(work)
        servers.append(lb)
        bl = start_baseline(work)
        servers.append(bl)
        async with (
            ClientPool(args.procs, work) as pool,
            HttpConn(lb.host, lb.http_port) as lb_http,
            HttpConn(bl.host, bl.http_port) as bl_http,
        ):
            bench = Bench(pool, lb, bl, lb_http, bl_http, "x" * args.payload)
            await call_mutation(
                lb_http, "counter:set", {"name": "fan", "tag": "R0;", "pad": bench.pad}
            )
            results = []
            for k in ks:
                results.append(await measure_k(bench, k, rounds, warmup))
            print_table(results)
            if args.profile:
                await profile(
                    bench, min(TARGET_K, max(ks)), Path(args.profile), args.profile_seconds
                )
        if args.out:
            Path(args.out).write_text(json.dumps({"machine": info, "results": results}, indent=2))
            print(f"all rounds saved to {args.out}")
        target = next((r for r in results if r["k"] == TARGET_K), None)
        return 0 if target is None or target["ratio"] <= TARGET_RATIO or not args.strict else 1
    finally:
        for server in servers:
            server.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(work)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="K = 100, 500 and 5 rounds")
    p.add_argument("--k", help="comma-separated subscriber counts (default 100,500,1000)")
    p.add_argument("--rounds", type=int, help="measured rounds per K and side (default 21)")
    p.add_argument("--procs", type=int, default=2, help="client processes (default 2)")
    p.add_argument(
        "--payload",
        type=int,
        default=200,
        help="bytes of padding in the query result (default 200)",
    )
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="S",
        help="first wait up to S seconds for the machine to be idle (other load skews the figures)",
    )
    p.add_argument("--out", help="write every round as JSON to this file")
    p.add_argument(
        "--profile",
        metavar="FILE",
        help="afterwards, py-spy the Livebase server during fan-outs to K=500",
    )
    p.add_argument("--profile-seconds", type=float, default=12.0)
    p.add_argument("--strict", action="store_true", help="exit 1 if the K=500 target is missed")
    return p.parse_args()


if __name__ == "__main__":
    sys.exit(run(lambda: main(parse_args())))
