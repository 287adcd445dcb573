"""Function logs: the lines of ``livebase dev`` (text) and ``livebase serve``
(JSON), ``livebase logs`` (history and follow mode), ``GET
/api/_admin/logs``, which runs are recorded, and docs/logs.md run for real."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from livebase.client import Client
from tests.support.server import REPO, RunningServer, make_project, start_server

pytestmark = pytest.mark.timeout(60)

PAGE = REPO / "docs" / "logs.md"
EXAMPLE = REPO / "docs" / "examples" / "logs"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
TEXT_LINE = re.compile(r"^\d\d:\d\d:\d\d [QMAH?] \S+(?: \S+)? \d+\.\dms (ok|FAILED)$")
FIELDS = {"timestamp", "requestId", "path", "kind", "durationMs", "status", "logLines"}

# The page's calls, in order (the curl lines of its first console block).
CALLS = [
    ("orders/share", {"args": {"item": "tea"}}),
    ("orders/place", {"args": {"item": "tea", "quantity": 120}}),
    ("orders/place", {"args": {"item": "tea", "quantity": 0}}),
    ("orders/report", {}),
]


# -- helpers -----------------------------------------------------------------------


def cli(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livebase.cli.main", *args], capture_output=True, text=True, timeout=60, **kw
    )


def post(server: RunningServer, path: str, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/api/run/{path}", json=body, timeout=30, **kw)
    assert response.status_code == 200, response.text
    return response.json()


def make_calls(server: RunningServer) -> None:
    for path, body in CALLS:
        post(server, path, body)


def normalize(text: str) -> str:
    """A log text with what changes from run to run replaced."""
    text = re.sub(r"^\d\d:\d\d:\d\d ", "HH:MM:SS ", text, flags=re.M)
    text = re.sub(r"\d+\.\dms ", "N.Nms ", text)
    text = re.sub(r"\[Request ID: [0-9a-f]{16}\]", "[Request ID: x]", text)
    return re.sub(r"\b[0-9a-z]{32}\b", "<id>", text)


def wait_until(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def function_lines(log: str) -> list[str]:
    """The log entry lines of a ``livebase dev`` output (after its banner)."""
    lines = log.splitlines()
    start = next((i for i, line in enumerate(lines) if TEXT_LINE.match(line)), len(lines))
    return lines[start:]


def json_lines(log: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


def entries(server: RunningServer, history: int = 1000) -> list[dict[str, Any]]:
    response = httpx.get(f"{server.url}/api/_admin/logs?history={history}", headers=server.admin_headers(), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["entries"]


def page_block(lang: str, index: int = 0) -> str:
    return [m.group(2) for m in FENCE.finditer(PAGE.read_text()) if m.group(1) == lang][index]


class Lines:
    """The output lines of a running subprocess, read by a thread (so reads can time out)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.queue.put(line.rstrip("\n"))

    def until(self, pattern: str, timeout: float = 10.0) -> list[str]:
        """Lines up to and including the first that matches ``pattern``."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} within {timeout}s; got {seen}") from None
            seen.append(line)
            if re.search(pattern, line):
                return seen


# -- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """``livebase dev`` on docs/examples/logs, after the page's four calls."""
    server = start_server(make_project(tmp_path_factory.mktemp("shop"), EXAMPLE))
    make_calls(server)
    wait_until(lambda: "A orders:report" in server.log(), "the action's log line")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def shop_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """``livebase serve`` on docs/examples/logs, after the page's four calls."""
    server = start_server(make_project(tmp_path_factory.mktemp("shop_serve"), EXAMPLE), mode="serve")
    make_calls(server)
    wait_until(lambda: len(json_lines(server.log())) >= 5, "five JSON lines")
    yield server
    server.stop()


# -- the page ---------------------------------------------------------------------------


def test_page_blocks_are_the_files() -> None:
    shown = set()
    for match in FENCE.finditer(PAGE.read_text()):
        name, _, rest = match.group(2).partition("\n")
        if name.startswith("# docs/examples/"):
            path = REPO / name.removeprefix("# ")
            assert rest == path.read_text(), f"the block for {name} differs from the file"
            shown.add(path)
    files = {p for p in EXAMPLE.rglob("*.py") if "__pycache__" not in p.parts}
    assert files and files == shown


def test_page_calls_are_the_tests_calls() -> None:
    curls = [line for line in page_block("console", 0).splitlines() if line.startswith("$ curl")]
    shown = [(re.search(r"/api/run/(\S+) ", c).group(1), json.loads(re.search(r"-d '(.*)'", c).group(1))) for c in curls]  # type: ignore[union-attr]
    assert shown == CALLS


# -- livebase dev -------------------------------------------------------------------------


def test_dev_prints_each_run_as_the_page_shows(shop: RunningServer) -> None:
    documented = page_block("text")
    # The page's calls were the server's first (later tests add more lines).
    lines = function_lines(shop.log())[: len(documented.splitlines())]
    assert normalize("\n".join(lines) + "\n") == normalize(documented)
    for line in lines:
        assert TEXT_LINE.match(line) or line.startswith("    "), line
    # The durations are real measurements.
    durations = [float(m.group(1)) for m in re.finditer(r" (\d+\.\d)ms ", "\n".join(lines))]
    assert len(durations) == 5 and all(0 <= d < 5000 for d in durations)


def test_dev_output_of_failures_names_the_error(shop: RunningServer) -> None:
    post(shop, "orders/nope", {})
    post(shop, "orders/place", {"args": {"item": "tea"}})  # a missing argument
    log = wait_until(lambda: "required field 'quantity'" in shop.log() and shop.log(), "the failures")
    text = "\n".join(function_lines(log))
    assert re.search(r"^\d\d:\d\d:\d\d \? orders:nope \d+\.\dms FAILED\n    ! .*\n    ! Could not find public function for 'orders:nope'\.$", text, re.M)
    assert re.search(r"^\d\d:\d\d:\d\d M orders:place \d+\.\dms FAILED\n    ! .*\n    ! ArgumentValidationError in orders:place: .*required field 'quantity'", text, re.M)


# -- livebase serve -------------------------------------------------------------------------


def test_serve_prints_json_lines(shop_serve: RunningServer) -> None:
    share, placed, refused, total, report = json_lines(shop_serve.log())[:5]
    for entry in (share, placed, refused, total, report):
        assert FIELDS <= set(entry) <= FIELDS | {"error"}
        assert isinstance(entry["timestamp"], float) and abs(entry["timestamp"] - time.time()) < 300
        assert re.fullmatch(r"[0-9a-f]{16}", entry["requestId"])
        assert 0 <= entry["durationMs"] < 5000
    assert [(e["path"], e["kind"], e["status"]) for e in (share, placed, refused, total, report)] == [
        ("orders:share", "query", "failure"),
        ("orders:place", "mutation", "success"),
        ("orders:place", "mutation", "failure"),
        ("orders:total", "query", "success"),
        ("orders:report", "action", "success"),
    ]
    assert placed["logLines"][1] == "[INFO] 120 x tea" and placed["logLines"][0].startswith("[LOG] placed order ")
    assert "error" not in placed
    assert refused["error"] == f'[Request ID: {refused["requestId"]}] Server Error\nUncaught AppError: {{"code":"bad_quantity","quantity":0}}'
    # Unexpected exceptions: the client's redacted message, then what happened.
    assert share["error"].startswith(f"[Request ID: {share['requestId']}] Server Error\nUncaught ZeroDivisionError")
    assert report["logLines"] == ["[WARN] 120 units ordered: time to restock"]
    # The page's example line has the same fields.
    documented = json.loads(page_block("json"))
    assert set(documented) == set(report)
    assert {k: documented[k] for k in ("path", "kind", "status", "logLines")} == {
        k: report[k] for k in ("path", "kind", "status", "logLines")
    }


def test_serve_logs_the_exception(shop_serve: RunningServer) -> None:
    share = json_lines(shop_serve.log())[0]
    assert "ZeroDivisionError" in share["error"]


# -- livebase logs ------------------------------------------------------------------------------


def test_logs_history_as_the_page_shows(shop: RunningServer) -> None:
    fresh = start_server(make_project(shop.project_dir.parent / "history", EXAMPLE))
    try:
        make_calls(fresh)
        wait_until(lambda: len(entries(fresh)) == 5, "five entries")
        done = cli("logs", "--dir", str(fresh.project_dir), "--history", "2", "--no-follow")
        assert done.returncode == 0, done.stderr
        documented = page_block("console", 1).split("\n", 1)[1]
        assert normalize(done.stdout) == normalize(documented)
    finally:
        fresh.stop()


def test_logs_history_json(shop: RunningServer) -> None:
    done = cli("logs", "--dir", str(shop.project_dir), "--history", "3", "--no-follow", "--json")
    assert done.returncode == 0, done.stderr
    shown = [json.loads(line) for line in done.stdout.splitlines()]
    assert shown == entries(shop)[-3:]
    nothing = cli("logs", "--dir", str(shop.project_dir), "--history", "0", "--no-follow")
    assert nothing.returncode == 0 and nothing.stdout == ""


def test_logs_follow_shows_runs_as_they_happen(shop: RunningServer) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "livebase.cli.main", "logs", "--dir", str(shop.project_dir), "--history", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        out = Lines(process)
        # It prints nothing until something runs; run an action (never
        # cached) until the follower shows it, so we know it is connected.
        deadline = time.monotonic() + 15
        while True:
            post(shop, "orders/report", {})
            try:
                out.until(r" A orders:report ", timeout=0.5)
                break
            except AssertionError:
                assert time.monotonic() < deadline, "livebase logs never showed a run"
        time.sleep(0.2)
        while not out.queue.empty():  # lines of the probing calls
            out.queue.get()

        placed = post(shop, "orders/place", {"args": {"item": "coffee", "quantity": 2}})["value"]
        lines = out.until(r"\[INFO\] 2 x coffee")
        assert re.match(r"^\d\d:\d\d:\d\d M orders:place \d+\.\dms ok$", lines[0]), lines
        assert lines[1:] == [f"    [LOG] placed order {placed}", "    [INFO] 2 x coffee"]

        refused = post(shop, "orders/place", {"args": {"item": "coffee", "quantity": -1}})
        lines = out.until(r"Uncaught AppError")
        request_id = re.search(r"Request ID: (\w+)", refused["errorMessage"]).group(1)  # type: ignore[union-attr]
        assert re.match(r"^\d\d:\d\d:\d\d M orders:place \d+\.\dms FAILED$", lines[0]), lines
        assert lines[1:] == [
            f"    ! [Request ID: {request_id}] Server Error",
            '    ! Uncaught AppError: {"code":"bad_quantity","quantity":-1}',
        ]
        assert process.poll() is None, "livebase logs stopped following"
    finally:
        process.terminate()
        process.wait(10)
        assert process.stdout is not None
        process.stdout.close()


def test_logs_needs_a_running_server(tmp_path: Path) -> None:
    project = make_project(tmp_path / "idle", EXAMPLE)
    done = cli("logs", "--dir", str(project), "--no-follow")
    assert done.returncode == 1
    assert "no Livebase server is running for this project" in done.stderr


def test_logs_with_url_and_admin_key(shop: RunningServer, tmp_path: Path) -> None:
    done = cli("logs", "--url", shop.url, "--history", "1", "--no-follow", "--json",
               env={**os.environ, "LIVEBASE_ADMIN_KEY": shop.admin_key}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == entries(shop)[-1:]
    refused = cli("logs", "--url", shop.url, "--admin-key", "livebase|0000", "--no-follow", cwd=tmp_path)
    assert refused.returncode == 1 and "admin key in the Authorization header is not valid" in refused.stderr


# -- the admin API ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Convex livebase|0000"}, {"Authorization": "Bearer x.y.z"}],
    ids=["missing", "wrong-key", "user-token"],
)
@pytest.mark.parametrize("query", ["", "?follow=1", "?history=5"])
def test_admin_logs_refuses_non_admins(shop: RunningServer, headers: dict[str, str], query: str) -> None:
    response = httpx.get(f"{shop.url}/api/_admin/logs{query}", headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json()["code"] in ("Unauthenticated", "BadAdminKey", "NoAuthProvider")
    assert "entries" not in response.text


def test_admin_logs_history_and_stream(shop: RunningServer) -> None:
    assert len(entries(shop, 2)) == 2
    bad = httpx.get(f"{shop.url}/api/_admin/logs?history=lots", headers=shop.admin_headers())
    assert bad.status_code == 400
    with httpx.stream(
        "GET", f"{shop.url}/api/_admin/logs?follow=1&history=1", headers=shop.admin_headers(), timeout=10
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = response.iter_lines()
        assert json.loads(next(lines)) == entries(shop)[-1]
        post(shop, "orders/place", {"args": {"item": "stream", "quantity": 1}})
        streamed = json.loads(next(line for line in lines if line.strip()))
        assert streamed["path"] == "orders:place" and streamed["logLines"][1] == "[INFO] 1 x stream"


# -- what is recorded ----------------------------------------------------------------------------

EXTRA = {
    "extra.py": '''
from livebase import internal_mutation, mutation, query, v


@mutation(args={})
def later(ctx):
    ctx.scheduler.run_after(0, "extra:tick", {"source": "scheduler"})


@internal_mutation(args={"source": v.string()})
def tick(ctx, source):
    print("tick from", source)


@query(args={})
def watched(ctx):
    return ctx.random.random()
''',
    "crons.py": '''
from livebase import CronJobs

crons = CronJobs()
crons.interval("tick", {"hours": 1}, "extra:tick", {"source": "cron"})
''',
    "http.py": '''
from starlette.responses import PlainTextResponse

from livebase import HttpRouter

http = HttpRouter()


@http.route(path="/ping", method="GET")
async def ping(ctx, request):
    print("pong")
    return PlainTextResponse("pong")
''',
}


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    project = make_project(tmp_path_factory.mktemp("busy"), EXAMPLE)
    for name, source in EXTRA.items():
        (project / "functions" / name).write_text(source)
    server = start_server(project)
    yield server
    server.stop()


def find(server: RunningServer, **fields: Any) -> list[dict[str, Any]]:
    return [e for e in entries(server) if all(e.get(k) == v for k, v in fields.items())]


def test_what_is_recorded(busy: RunningServer) -> None:
    # A cron's first run comes right after the deploy.
    wait_until(lambda: find(busy, path="extra:tick", logLines=["[LOG] tick from cron"]), "the cron's run")
    # A scheduled function.
    post(busy, "extra/later", {})
    wait_until(lambda: find(busy, path="extra:tick", logLines=["[LOG] tick from scheduler"]), "the job's run")
    # An HTTP action.
    assert httpx.get(f"{busy.site_url}/ping").text == "pong"
    (ping,) = wait_until(lambda: find(busy, path="GET /ping"), "the HTTP action's run")
    assert ping["kind"] == "httpAction" and ping["logLines"] == ["[LOG] pong"]
    # Over the WebSocket: a mutation and an action (with the query it runs, first).
    before = len(entries(busy))
    with Client(busy.url) as client:
        client.mutation("orders:place", {"item": "ws", "quantity": 200})
        client.action("orders:report")
    recent = entries(busy)[before:]
    assert [(e["path"], e["kind"]) for e in recent] == [
        ("orders:place", "mutation"), ("orders:total", "query"), ("orders:report", "action"),
    ]
    # Failures of every sort, with their error.
    post(busy, "extra/tick", {"args": {"source": "x"}})  # internal, no admin key
    post(busy, "orders/place", {"args": {"item": 1, "quantity": 1}})
    hidden, invalid = entries(busy)[-2:]
    assert hidden["path"] == "extra:tick" and hidden["status"] == "failure"
    assert "Could not find public function for 'extra:tick'" in hidden["error"]
    assert invalid["kind"] == "mutation" and "ArgumentValidationError" in invalid["error"]
    # livebase run, through the running server.
    ran = cli("run", "extra:tick", '{"source": "cli"}', "--dir", str(busy.project_dir))
    assert ran.returncode == 0, ran.stderr
    assert find(busy, path="extra:tick", logLines=["[LOG] tick from cli"], status="success")


def test_cached_queries_are_not_recorded(busy: RunningServer) -> None:
    before = len(find(busy, path="orders:total"))
    first = post(busy, "orders/total", {})["value"]
    # Cached from the second ask on: three asks, two runs.
    assert post(busy, "orders/total", {})["value"] == first
    assert post(busy, "orders/total", {})["value"] == first
    assert len(find(busy, path="orders:total")) == before + 2
    post(busy, "orders/place", {"args": {"item": "tea", "quantity": 1}})
    assert post(busy, "orders/total", {})["value"] == first + 1
    assert len(find(busy, path="orders:total")) == before + 3


def test_subscription_runs_are_recorded(busy: RunningServer) -> None:
    with Client(busy.url) as client, client.subscribe("extra:watched") as watched:
        watched.next(timeout=10)
        wait_until(lambda: find(busy, path="extra:watched"), "a log entry for the subscription's run", timeout=2)
