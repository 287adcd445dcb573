"""HTTP throughput of Livebase next to a hand-written Starlette + sqlite3 baseline.

    .venv/bin/python bench/http_throughput.py            # 5 s per cell
    .venv/bin/python bench/http_throughput.py --quick    # 2 s per cell, shorter warm-up
    .venv/bin/python bench/http_throughput.py --profile  # also py-spy the Livebase server

Starts, on free loopback ports and fresh data directories:
  * ``livebase serve`` on a copy of bench/apps/bench (production mode);
  * bench/baseline_app.py with ``synchronous=FULL`` (the same durability as
    Livebase: a write is fsynced before its response) and, for context only,
    with ``synchronous=NORMAL``.
Seeds each with the same items, then drives all of them with the same load
generator (wrk + bench/wrk_post.lua; bench/loadgen.py if wrk is missing) for
mutations (``items:add`` vs ``POST /add``) and queries (``items:byOwner`` vs
``POST /byOwner``) at 1 and 16 clients, interleaving the targets cell by
cell. Prints req/s and p50/p99 latency per cell, and the ratio
Livebase / baseline; saves everything to bench/results/http_throughput.json.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
APP = BENCH / "apps" / "bench"
LUA = BENCH / "wrk_post.lua"
RESULTS = BENCH / "results" / "http_throughput.json"
TARGET_RATIO = 0.5
CLK_TCK = os.sysconf("SC_CLK_TCK")

# op -> (wrk_post.lua kind, which URL of the target). "query" reads the 10
# newest items of one of 50 owners: repeated arguments, which Livebase's query
# cache may answer without running the query (until a write to that owner).
# "query_unique" sends the same read with a never-repeated extra argument, so
# every request runs the query (the baseline ignores the argument).
OPS = {
    "query": ("byOwner", "query_url"),
    "mutation": ("add", "add_url"),
    "query_unique": ("byOwnerUnique", "query_url"),
}
_run_counter = [0]


# -- processes -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Target:
    key: str
    label: str
    base: str
    add_url: str
    query_url: str
    seed_url: str
    seed_path: str
    proc: subprocess.Popen
    log_path: Path
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid


def _spawn(cmd: list[str], log_path: Path, cwd: Path) -> subprocess.Popen:
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    finally:
        log.close()


def _wait_ready(target: Target, timeout: float = 60.0) -> None:
    """Until the server answers; stops it (and raises) if it does not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if target.proc.poll() is not None:
            raise RuntimeError(
                f"{target.label} exited with {target.proc.returncode}:\n{target.log_path.read_text()}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(target.base + "/version", timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    stop(target.proc)
    raise RuntimeError(
        f"{target.label} did not answer /version within {timeout}s:\n{target.log_path.read_text()}"
    )


def start_livebase(work: Path) -> Target:
    project = work / "livebase"
    shutil.copytree(
        APP / "functions", project / "functions", ignore=shutil.ignore_patterns("__pycache__")
    )
    port, site_port = free_port(), free_port()
    exe = Path(sys.executable).with_name("livebase")
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
    log_path = work / "livebase.log"
    base = f"http://127.0.0.1:{port}"
    target = Target(
        "livebase",
        "Livebase",
        base,
        base + "/api/mutation",
        base + "/api/query",
        base + "/api/mutation",
        "items:seed",
        _spawn(cmd, log_path, project),
        log_path,
    )
    _wait_ready(target)
    return target


def start_baseline(work: Path, synchronous: str) -> Target:
    port = free_port()
    db = work / f"baseline-{synchronous.lower()}.sqlite3"
    cmd = [
        sys.executable,
        str(BENCH / "baseline_app.py"),
        "--db",
        str(db),
        "--port",
        str(port),
        "--synchronous",
        synchronous,
    ]
    log_path = work / f"baseline-{synchronous.lower()}.log"
    base = f"http://127.0.0.1:{port}"
    target = Target(
        f"baseline_{synchronous.lower()}",
        f"baseline {synchronous}",
        base,
        base + "/add",
        base + "/byOwner",
        base + "/seed",
        "items:seed",
        _spawn(cmd, log_path, work),
        log_path,
    )
    _wait_ready(target)
    return target


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def seed(target: Target, items: int, owners: int) -> None:
    batch = 250
    with httpx.Client(timeout=60) as client:
        for start in range(0, items, batch):
            count = min(batch, items - start)
            body = {
                "path": target.seed_path,
                "args": {"owners": owners, "start": start, "count": count},
                "format": "json",
            }
            resp = client.post(target.seed_url, json=body)
            if resp.status_code != 200 or resp.json().get("status") != "success":
                raise RuntimeError(
                    f"seeding {target.label} failed: {resp.status_code} {resp.text[:500]}"
                )


def check_read(target: Target) -> int:
    """A read after the run: the newest 10 items of one owner, in order."""
    body = {"path": "items:byOwner", "args": {"owner": "o7"}, "format": "json"}
    resp = httpx.post(target.query_url, json=body, timeout=10)
    data = resp.json()
    if data.get("status") != "success" or len(data["value"]) != 10:
        raise RuntimeError(f"{target.label}: items:byOwner gave {resp.text[:500]}")
    items = data["value"]
    if any(item["owner"] != "o7" for item in items):
        raise RuntimeError(f"{target.label}: items:byOwner returned other owners' items")
    times = [item["_creationTime"] for item in items]
    if times != sorted(times, reverse=True):
        raise RuntimeError(f"{target.label}: items:byOwner is not newest first: {times}")
    return len(items)


# -- load generator ------------------------------------------------------------------


def ensure_wrk(install: bool) -> str | None:
    """Path of wrk, installing the Debian package if allowed and possible."""
    found = shutil.which("wrk")
    if found or not install:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        print("wrk is not installed and cannot be installed here (needs root and apt-get).")
        return None
    print("Setting up: installing wrk (apt-get update && apt-get install -y wrk) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
            subprocess.run(cmd, check=True, env=env, timeout=300, capture_output=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        out = getattr(e, "stderr", b"") or b""
        print(f"Installing wrk failed ({e}); {out.decode(errors='replace')[-500:]}")
        return None
    return shutil.which("wrk")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads) so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _machine_busy_seconds() -> float:
    """CPU time spent by everything on the machine so far (all cores)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def wait_quiet(limit_s: float, window_s: float = 3.0, max_busy_pct: float = 20.0) -> bool:
    """Wait (up to ``limit_s``) for a window in which the machine uses less
    than ``max_busy_pct`` of one core; returns whether it found one."""
    deadline = time.monotonic() + limit_s
    while True:
        b0 = _machine_busy_seconds()
        time.sleep(window_s)
        busy = 100 * (_machine_busy_seconds() - b0) / window_s
        if busy < max_busy_pct:
            return True
        if time.monotonic() >= deadline:
            print(
                f"The machine is still busy ({busy:.0f}% of a core used by other processes); going ahead."
            )
            return False
        print(f"  waiting for a quiet machine ({busy:.0f}% of a core busy) ...", flush=True)


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_load(
    wrk: str | None,
    url: str,
    kind: str,
    clients: int,
    seconds: int,
    owners: int,
    server_pid: int,
    work: Path,
) -> dict[str, Any]:
    out = work / "load.json"
    out.unlink(missing_ok=True)
    if wrk:
        threads = min(clients, 2)
        cmd = [
            wrk,
            "-c",
            str(clients),
            "-t",
            str(threads),
            "-d",
            f"{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            url,
        ]
    else:
        cmd = [
            sys.executable,
            str(BENCH / "loadgen.py"),
            "--url",
            url,
            "--kind",
            kind,
            "-c",
            str(clients),
            "-d",
            str(seconds),
            "--out",
            str(out),
        ]
    # Every run gets its own range of request numbers (unique nonces and n).
    _run_counter[0] += 1
    base = _run_counter[0] * 1_000_000_000
    if not wrk:
        cmd += ["--base", str(base)]
    env = {
        **os.environ,
        "BENCH_KIND": kind,
        "BENCH_OWNERS": str(owners),
        "BENCH_OUT": str(out),
        "BENCH_BASE": str(base),
    }
    busy0 = _machine_busy_seconds()
    server_cpu0, gen_cpu0, t0 = _cpu_seconds(server_pid), _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, timeout=seconds + 60)
    wall = time.perf_counter() - t0
    server_cpu, gen_cpu = _cpu_seconds(server_pid) - server_cpu0, _children_cpu() - gen_cpu0
    other_cpu = max(0.0, _machine_busy_seconds() - busy0 - server_cpu - gen_cpu)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(
            f"load generator failed ({proc.returncode}): {proc.stdout.decode()} {proc.stderr.decode()}"
        )
    result = json.loads(out.read_text())
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["server_cpu_pct"] = 100 * server_cpu / wall
    # CPU per request: unlike req/s, barely moved by other load on the box.
    # (It counts the server's CPU during wrk's start and stop too: a small
    # overestimate, the same for every target.)
    result["server_cpu_us_per_req"] = 1e6 * server_cpu / max(1, result["requests"])
    result["loadgen_cpu_pct"] = 100 * gen_cpu / wall
    # Anything else running on the box competes for the same two cores.
    result["other_cpu_pct"] = 100 * other_cpu / wall
    return result


# -- profiling -----------------------------------------------------------------------


# Frames that are on (nearly) every stack and say nothing about the cost.
_BORING = (
    "click/",
    "asyncio/runners.py",
    "uvloop/__init__.py",
    "threading.py",
    "cli/main.py",
    "server/serve.py",
    "<module>",
)


def _summarize_collapsed(path: Path, top: int) -> dict[str, Any]:
    """Self and inclusive shares of samples per function (line numbers
    folded) from py-spy's raw output: ``root;...;leaf count`` per line."""
    self_counts: Counter[str] = Counter()
    incl_counts: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        total += n
        self_counts[frames[-1]] += n
        for f in set(frames):
            if not any(b in f for b in _BORING):
                incl_counts[f] += n

    def share(c: Counter[str]) -> list[tuple[str, float]]:
        return (
            [(name, round(100 * n / total, 1)) for name, n in c.most_common(top)] if total else []
        )

    return {"samples": total, "self": share(self_counts), "inclusive": share(incl_counts)}


def profile_livebase(
    target: Target, wrk: str | None, seconds: int, owners: int, work: Path, top: int
) -> dict[str, Any]:
    """Run the c=16 cells again with py-spy sampling the Livebase server."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("py-spy not found: install it with `.venv/bin/pip install py-spy` to profile.")
        return {}
    report: dict[str, Any] = {}
    for op, kind, url in (
        ("mutation", "add", target.add_url),
        ("query_unique", "byOwnerUnique", target.query_url),
    ):
        raw = RESULTS.parent / f"profile-livebase-{op}.txt"
        raw.unlink(missing_ok=True)
        # --nonblocking: sample without pausing the server (pausing it would
        # slow it down and distort what is measured). --gil: only the thread
        # holding the GIL, i.e. where the Python CPU time goes (a thread
        # waiting in fsync or epoll is not counted).
        spy_proc = subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(target.pid),
                "--duration",
                str(seconds),
                "--rate",
                "500",
                "--nonblocking",
                "--gil",
                "--format",
                "raw",
                "--output",
                str(raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.5)
            run = run_load(wrk, url, kind, 16, seconds, owners, target.pid, work)
        finally:
            try:
                spy_proc.wait(timeout=seconds + 30)
            except subprocess.TimeoutExpired:
                spy_proc.kill()
                spy_proc.wait()
        summary = _summarize_collapsed(raw, top) if raw.exists() else {}
        summary["rps_while_profiled"] = run["rps"]
        summary["raw"] = str(raw)
        report[op] = summary
    return report


# -- reporting -----------------------------------------------------------------------


def machine_info(wrk: str | None) -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk_version = ""
    if wrk:
        proc = subprocess.run([wrk, "--version"], capture_output=True, text=True)
        wrk_version = (proc.stdout or proc.stderr).splitlines()[0].strip()
    import starlette
    import uvicorn

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "uvicorn": uvicorn.__version__,
        "starlette": starlette.__version__,
        "load_generator": wrk_version or "bench/loadgen.py (Python, uvloop)",
    }


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda r: r["rps"])
    return ordered[len(ordered) // 2]


def print_table(cells: list[tuple[str, int]], targets: list[Target]) -> list[dict[str, Any]]:
    lb = targets[0]
    base = targets[1]
    rows = []
    for op, clients in cells:
        cell = f"{op}/c{clients}"
        row: dict[str, Any] = {"op": op, "clients": clients}
        for t in targets:
            row[t.key] = _median_run(t.results[cell])
        row["ratio"] = row[lb.key]["rps"] / row[base.key]["rps"]
        if len(targets) > 2:
            row["ratio_vs_normal"] = row[lb.key]["rps"] / row[targets[2].key]["rps"]
        rows.append(row)

    def fmt(r: dict[str, Any]) -> tuple[str, str, str]:
        lat = r["latency_us"]
        return f"{r['rps']:,.0f}", f"{lat['p50'] / 1000:.2f}", f"{lat['p99'] / 1000:.2f}"

    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        Console = None  # type: ignore[assignment,misc]
    headers = ["op", "clients"]
    for t in targets:
        headers += [f"{t.label} req/s", "p50 ms", "p99 ms"]
    headers += ["LB/base", "target"]
    if len(targets) > 2:
        headers.append("LB/NORMAL")
    lines = []
    for row in rows:
        line = [row["op"], str(row["clients"])]
        for t in targets:
            line += list(fmt(row[t.key]))
        line += [f"{row['ratio']:.2f}", "ok" if row["ratio"] >= TARGET_RATIO else "BELOW"]
        if len(targets) > 2:
            line.append(f"{row['ratio_vs_normal']:.2f}")
        lines.append(line)
    if Console is not None:
        table = Table(
            title="HTTP throughput (median run per cell); LB/base = Livebase / baseline FULL"
        )
        for h in headers:
            table.add_column(h, justify="left" if h == "op" else "right")
        for line in lines:
            table.add_row(*line)
        Console(width=200).print(table)
    else:
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
        print("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
        for line in lines:
            print("  ".join(v.rjust(w) for v, w in zip(line, widths, strict=True)))
    return rows


def print_cpu(rows: list[dict[str, Any]], targets: list[Target]) -> None:
    print(
        "\nServer CPU per request in µs (less sensitive to other load than req/s), and CPU during the "
        f"runs in % of one core (the box has {os.cpu_count()}): server / load generator / everything else"
    )
    noisy = False
    for row in rows:
        parts = []
        for t in targets:
            r = row[t.key]
            parts.append(
                f"{t.label}: {r['server_cpu_us_per_req']:4.0f} µs  "
                f"{r['server_cpu_pct']:3.0f}/{r['loadgen_cpu_pct']:2.0f}/{r['other_cpu_pct']:3.0f}%"
            )
            noisy = noisy or r["other_cpu_pct"] > 15
        print(f"  {row['op']:<12} c={row['clients']:<3} " + "   ".join(parts))
    if noisy:
        print(
            "  WARNING: other processes used more than 15% of a core during some runs, so req/s and "
            "latency are noisy: rerun on a quiet machine (--wait-quiet 600), or with --repeat 3."
        )


def print_profile(report: dict[str, Any]) -> None:
    for op, summary in report.items():
        if not summary.get("samples"):
            print(f"\nprofile {op}: no samples")
            continue
        print(
            f"\nLivebase server profile, {op} at c=16 ({summary['samples']} samples holding the GIL, "
            f"{summary['rps_while_profiled']:,.0f} req/s while sampled; raw stacks: {summary['raw']})"
        )
        print("  inclusive %  function (file)")
        for name, pct in summary["inclusive"]:
            print(f"  {pct:10.1f}  {name}")
        print("  self %       function")
        for name, pct in summary["self"][:12]:
            print(f"  {pct:10.1f}  {name}")


# -- main --------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--duration", type=int, default=5, help="measured seconds per cell (default 5)"
    )
    parser.add_argument(
        "--warmup", type=int, default=2, help="warm-up seconds per target and cell (default 2)"
    )
    parser.add_argument("--quick", action="store_true", help="2 s per cell, 1 s warm-up, 1 repeat")
    parser.add_argument(
        "--repeat", type=int, default=1, help="measure each cell N times, report the median"
    )
    parser.add_argument(
        "--clients", default="1,16", help="comma-separated client counts (default 1,16)"
    )
    parser.add_argument(
        "--ops", default=",".join(OPS), help=f"comma-separated, in order (default {','.join(OPS)})"
    )
    parser.add_argument("--seed-items", type=int, default=2000)
    parser.add_argument("--owners", type=int, default=50)
    parser.add_argument(
        "--no-normal", action="store_true", help="skip the synchronous=NORMAL baseline"
    )
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--no-install", action="store_true", help="do not apt-get install wrk when missing"
    )
    parser.add_argument(
        "--profile", action="store_true", help="also sample the Livebase server with py-spy"
    )
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="S",
        help="first wait up to S seconds for other processes to leave the CPU idle",
    )
    opts = parser.parse_args()
    if opts.quick:
        opts.duration, opts.warmup, opts.repeat = 2, 1, 1
    clients = [int(c) for c in opts.clients.split(",")]

    wrk = None
    if opts.loadgen != "python":
        wrk = ensure_wrk(install=not opts.no_install)
        if wrk is None:
            if opts.loadgen == "wrk":
                print("wrk is required (--loadgen wrk) but not available.")
                return 2
            print(
                "Falling back to the Python load generator (bench/loadgen.py); figures are lower than "
                "with wrk but the same client drives both sides."
            )
    opts.out.parent.mkdir(parents=True, exist_ok=True)

    if opts.wait_quiet > 0:
        wait_quiet(opts.wait_quiet)
    targets: list[Target] = []
    work = Path(tempfile.mkdtemp(prefix="livebase-bench-"))
    started = dt.datetime.now(dt.UTC)
    profile: dict[str, Any] = {}
    try:
        print(f"Starting servers in {work} ...", flush=True)
        targets.append(start_livebase(work))
        targets.append(start_baseline(work, "FULL"))
        if not opts.no_normal:
            targets.append(start_baseline(work, "NORMAL"))
        for t in targets:
            seed(t, opts.seed_items, opts.owners)
        print(
            f"Seeded {opts.seed_items} items over {opts.owners} owners in each. "
            f"{opts.duration:g} s per cell after {opts.warmup:g} s warm-up, {opts.repeat} run(s) per cell.",
            flush=True,
        )

        # Queries first, so every target reads exactly the seeded data; the
        # unique-argument queries last, so the many query results they leave
        # in Livebase's cache do not weigh on the mutation cells.
        ops = [op.strip() for op in opts.ops.split(",")]
        cells = [(op, c) for op in ops for c in clients]
        for op, c in cells:
            kind, url_attr = OPS[op]
            for rep in range(opts.repeat):
                for t in targets:
                    url = getattr(t, url_attr)
                    if opts.warmup > 0:
                        run_load(wrk, url, kind, c, opts.warmup, opts.owners, t.pid, work)
                    r = run_load(wrk, url, kind, c, opts.duration, opts.owners, t.pid, work)
                    bad = r["failures"] + sum(r["errors"].values())
                    if bad:
                        raise RuntimeError(
                            f"{t.label} {op} c={c}: {bad} failed requests of {r['requests']}: {r['failure_sample']}"
                        )
                    t.results.setdefault(f"{op}/c{c}", []).append(r)
                    lat = r["latency_us"]
                    print(
                        f"  {op:<12} c={c:<3} run {rep + 1}  {t.label:<16} {r['rps']:>9,.0f} req/s  "
                        f"p50 {lat['p50'] / 1000:6.2f} ms  p99 {lat['p99'] / 1000:6.2f} ms  "
                        f"(other CPU {r['other_cpu_pct']:.0f}%)",
                        flush=True,
                    )
        for t in targets:
            check_read(t)
        if opts.profile:
            print("Profiling the Livebase server with py-spy (c=16) ...", flush=True)
            profile = profile_livebase(
                targets[0], wrk, opts.duration, opts.owners, work, opts.profile_top
            )
    finally:
        for t in targets:
            stop(t.proc)
        logs = {t.key: t.log_path.read_text()[-2000:] for t in targets if t.log_path.exists()}
        shutil.rmtree(work, ignore_errors=True)

    print()
    rows = print_table(cells, targets)
    print_cpu(rows, targets)
    if profile:
        print_profile(profile)
    for key, text in logs.items():
        # The logs are quiet unless something went wrong (and Livebase's
        # banner holds the admin key: not worth printing).
        if any(word in text for word in ("Traceback", "ERROR", "Error:")):
            print(f"\n{key} server log (tail):\n{text}")

    data = {
        "date": started.isoformat(timespec="seconds"),
        "machine": machine_info(wrk),
        "settings": {
            "duration_s": opts.duration,
            "warmup_s": opts.warmup,
            "repeat": opts.repeat,
            "clients": clients,
            "seed_items": opts.seed_items,
            "owners": opts.owners,
            "wrk_threads": {str(c): min(c, 2) for c in clients} if wrk else None,
        },
        "target_ratio": TARGET_RATIO,
        "cells": [
            {
                "op": row["op"],
                "clients": row["clients"],
                "ratio": row["ratio"],
                **({"ratio_vs_normal": row["ratio_vs_normal"]} if "ratio_vs_normal" in row else {}),
                "median": {t.key: row[t.key] for t in targets},
                "runs": {t.key: t.results[f"{row['op']}/c{row['clients']}"] for t in targets},
            }
            for row in rows
        ],
        "profile": profile,
    }
    opts.out.write_text(json.dumps(data, indent=2))
    print(f"\nSaved {opts.out}")
    below = [f"{r['op']}/c{r['clients']}" for r in rows if r["ratio"] < TARGET_RATIO]
    if below:
        print(
            f"Below the target (Livebase >= {TARGET_RATIO:g} x baseline FULL): {', '.join(below)}"
        )
    else:
        print(f"Every cell meets the target (Livebase >= {TARGET_RATIO:g} x baseline FULL).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
