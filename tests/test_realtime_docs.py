"""docs/realtime.md, run for real: its blocks are its files, its examples
print what it shows (with ``livebase.client``, the npm ``convex`` client and
the PyPI ``convex`` client), and each claim about what re-runs, what is
cached and what clients can rely on is checked against a real server."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from livebase.client import AsyncClient, Client
from tests.support.node import JS_DIR, require_node
from tests.support.server import REPO, RunningServer, make_project, start_server

pytestmark = pytest.mark.timeout(60)

PAGE = REPO / "docs" / "realtime.md"
EXAMPLE = REPO / "docs" / "examples" / "realtime"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
MARKER = re.compile(r"^(?:#|//) (docs/examples/\S+)\n")

# Test-only queries beside the example's: each wraps a query of tasks.py
# (so it has the same read set) and adds a fresh random number to its
# result, so that every run of it reaches the subscribers, not only every
# change of the result.
PROBE = '''
from livebase import query, v

from . import tasks


def _run(ctx, result):
    return {"result": result, "run": ctx.random.random()}


@query(args={"list": v.string()})
def in_list(ctx, list):
    return _run(ctx, tasks.in_list(ctx, list))


@query(args={})
def first_two(ctx):
    return _run(ctx, tasks.first_two(ctx))


@query(args={})
def open_count(ctx):
    return _run(ctx, tasks.open_count(ctx))


@query(args={"id": v.id("tasks")})
def describe(ctx, id):
    return _run(ctx, tasks.describe(ctx, id))


@query(args={"list": v.string(), "opts": v.any()})
def page(ctx, list, opts):
    tasks_ = ctx.db.query("tasks").with_index("by_list", lambda q: q.eq("list", list).eq("done", False))
    result = tasks_.order("desc").paginate(opts)
    return _run(ctx, {"titles": [t["title"] for t in result["page"]], "cursor": result["continueCursor"]})


@query(args={})
def clock(ctx):
    return ctx.now()
'''


# -- helpers ----------------------------------------------------------------------------


def blocks() -> list[tuple[str, str, str]]:
    """(language, marked file or "", body) of every fenced block of the page."""
    found = []
    for match in FENCE.finditer(PAGE.read_text()):
        marker = MARKER.match(match.group(2))
        if marker:
            found.append((match.group(1), marker.group(1), match.group(2)[marker.end():]))
        else:
            found.append((match.group(1), "", match.group(2)))
    return found


def text_blocks() -> list[str]:
    return [body for lang, _, body in blocks() if lang == "text"]


def serve(tmp_path: Path, name: str = "realtime") -> RunningServer:
    project = make_project(tmp_path / name, EXAMPLE)
    (project / "functions" / "probe.py").write_text(PROBE)
    return start_server(project)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    """A fresh server (empty database) on the example app plus PROBE, for
    the tests whose results depend on the whole table."""
    running = serve(tmp_path)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server for the tests that work on lists of their own."""
    running = serve(tmp_path_factory.mktemp("shared"))
    yield running
    running.stop()


def fresh_list() -> str:
    return f"list-{uuid.uuid4().hex[:8]}"


def script(name: str, server: RunningServer) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE / name)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "LIVEBASE_URL": server.url},
    )
    assert done.returncode == 0, done.stderr
    return done


def http(server: RunningServer, kind: str, path: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/api/{kind}", json={"path": path, "args": args or {}}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def value(server: RunningServer, kind: str, path: str, args: dict[str, Any] | None = None) -> Any:
    body = http(server, kind, path, args)
    assert body["status"] == "success", body
    return body["value"]


def runs_of(server: RunningServer, path: str) -> int:
    response = httpx.get(f"{server.url}/api/_admin/logs?history=1000", headers=server.admin_headers(), timeout=30)
    return sum(1 for entry in response.json()["entries"] if entry["path"] == path)


def new_results(subscriptions: dict[str, Any]) -> set[str]:
    """Which subscriptions have a new result queued (taking them)."""
    got = set()
    for name, subscription in subscriptions.items():
        try:
            subscription.next(timeout=0)
            got.add(name)
        except TimeoutError:
            pass
    return got


# -- the page's blocks and examples -------------------------------------------------------


def test_page_blocks_are_the_files() -> None:
    shown = set()
    for _, name, body in blocks():
        if name:
            assert body == (REPO / name).read_text(), f"the block for {name} differs from the file"
            shown.add(REPO / name)
    files = {p for p in EXAMPLE.rglob("*") if p.suffix in (".py", ".mjs") and "__pycache__" not in p.parts}
    assert files and files == shown, f"not shown: {files - shown}"


def test_dependencies_example_prints_what_the_page_shows(server: RunningServer) -> None:
    assert script("dependencies.py", server).stdout == text_blocks()[0]


def test_reruns_are_what_the_page_says(server: RunningServer) -> None:
    """The same writes as dependencies.py, watched through PROBE: which
    queries ran again (not only which results changed)."""
    with Client(server.url) as client:
        bread = client.mutation("tasks:add", {"list": "home", "title": "buy bread"})
        client.mutation("tasks:add", {"list": "home", "title": "water plants"})
        invoice = client.mutation("tasks:add", {"list": "work", "title": "send invoice"})
        watched = {
            "home": client.subscribe("probe:in_list", {"list": "home"}),
            "work": client.subscribe("probe:in_list", {"list": "work"}),
            "first_two": client.subscribe("probe:first_two"),
            "open_count": client.subscribe("probe:open_count"),
            "bread": client.subscribe("probe:describe", {"id": bread}),
        }
        for subscription in watched.values():
            subscription.next(timeout=10)
        client.mutation("tasks:add", {"list": "work", "title": "book train"})
        assert new_results(watched) == {"work", "open_count"}
        client.mutation("tasks:rename", {"id": invoice, "title": "send invoice #12"})
        assert new_results(watched) == {"work", "open_count"}
        client.mutation("tasks:complete", {"id": bread})
        assert new_results(watched) == {"home", "open_count", "bread", "first_two"}
        # A write to another list reruns only the query that read the whole table.
        client.mutation("tasks:add", {"list": "elsewhere", "title": "x"})
        assert new_results(watched) == {"open_count"}


def test_npm_client_example(server: RunningServer) -> None:
    node = require_node()
    source = next(body for _, name, body in blocks() if name.endswith("watch.mjs"))
    done = subprocess.run(
        [node, "--input-type=module"],
        input=source,
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "LIVEBASE_URL": server.url},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == text_blocks()[1]


def test_pypi_client_example(shared: RunningServer) -> None:
    first = script("consistent.py", shared).stdout
    assert re.fullmatch(r"\d+ views, each with the suitcase in exactly one list\n", first), first
    assert script("consistent.py", shared).stdout.endswith("exactly one list\n")  # it can run again


# -- what depends on what ---------------------------------------------------------------------


def test_a_page_depends_on_its_own_range(shared: RunningServer) -> None:
    pages = fresh_list()
    with Client(shared.url) as client:
        for title in "abcde":
            client.mutation("tasks:add", {"list": pages, "title": title})
        first = client.query("probe:page", {"list": pages, "opts": {"numItems": 2, "cursor": None}})
        assert first["result"]["titles"] == ["e", "d"]
        second = client.subscribe("probe:page", {"list": pages, "opts": {"numItems": 2, "cursor": first["result"]["cursor"]}})
        assert second.next(timeout=10)["result"]["titles"] == ["c", "b"]
        # Newest first: a new task sorts before the first page, outside the second's range.
        client.mutation("tasks:add", {"list": pages, "title": "new"})
        assert new_results({"second": second}) == set()
        # endCursor keeps a page's end: it grows instead of dropping "d".
        pinned = client.subscribe(
            "probe:page", {"list": pages, "opts": {"numItems": 2, "cursor": None, "endCursor": first["result"]["cursor"]}}
        )
        assert pinned.next(timeout=10)["result"]["titles"] == ["new", "e", "d"]


def test_a_subscribed_page_keeps_its_end(shared: RunningServer) -> None:
    pages = fresh_list()
    with Client(shared.url) as client:
        for title in "abcde":
            client.mutation("tasks:add", {"list": pages, "title": title})
        page = client.subscribe("probe:page", {"list": pages, "opts": {"numItems": 2, "cursor": None}})
        assert page.next(timeout=10)["result"]["titles"] == ["e", "d"]
        client.mutation("tasks:add", {"list": pages, "title": "new"})
        assert page.value["result"]["titles"] == ["new", "e", "d"]


# -- caching -----------------------------------------------------------------------------------


def test_identical_subscriptions_share_one_run(shared: RunningServer) -> None:
    args = {"list": fresh_list()}
    with Client(shared.url) as one, Client(shared.url) as two:
        a = one.subscribe("probe:in_list", args)
        b = two.subscribe("probe:in_list", args)
        assert a.next(timeout=10) == b.next(timeout=10)
        one.mutation("tasks:add", {**args, "title": "t"})
        after = a.next(timeout=10)
        assert after["result"] == ["t"] and b.next(timeout=10) == after  # the same run, random number and all
        # HTTP queries get the subscribed result, without running it.
        runs = runs_of(shared, "probe:in_list")
        assert value(shared, "query", "probe:in_list", args) == after
        assert runs_of(shared, "probe:in_list") == runs


def test_http_results_are_reused_until_a_write_touches_them(shared: RunningServer) -> None:
    mine, other = fresh_list(), fresh_list()
    value(shared, "mutation", "tasks:add", {"list": mine, "title": "one"})
    runs = runs_of(shared, "probe:in_list")
    first = value(shared, "query", "probe:in_list", {"list": mine})
    # Kept from the second time it is asked (the cache's admission rule).
    cached = value(shared, "query", "probe:in_list", {"list": mine})
    assert cached["result"] == first["result"] and cached["run"] != first["run"]
    assert value(shared, "query", "probe:in_list", {"list": mine}) == cached
    assert runs_of(shared, "probe:in_list") == runs + 2
    # A new subscription starts from the cached result.
    with Client(shared.url) as client:
        assert client.query("probe:in_list", {"list": mine}) == cached
    # A write outside its read set keeps it; one inside drops it, and a query
    # sent after the mutation's response sees the mutation.
    value(shared, "mutation", "tasks:add", {"list": other, "title": "two"})
    assert value(shared, "query", "probe:in_list", {"list": mine}) == cached
    value(shared, "mutation", "tasks:add", {"list": mine, "title": "three"})
    fresh = value(shared, "query", "probe:in_list", {"list": mine})
    assert fresh["result"] == ["one", "three"] and fresh["run"] != cached["run"]
    assert runs_of(shared, "probe:in_list") == runs + 3


def test_failed_http_queries_are_not_cached(shared: RunningServer) -> None:
    runs = runs_of(shared, "probe:page")
    failing = {"list": fresh_list(), "opts": {"numItems": 1, "cursor": "not a cursor"}}
    for _ in range(2):
        assert "InvalidCursor" in http(shared, "query", "probe:page", failing)["errorMessage"]
    assert runs_of(shared, "probe:page") == runs + 2


def test_time_passing_is_not_a_change(shared: RunningServer) -> None:
    with Client(shared.url) as client, client.subscribe("probe:clock") as clock:
        clock.next(timeout=10)
        with pytest.raises(TimeoutError):
            clock.next(timeout=1.3)
    # Over HTTP, a result that read ctx.now() is reused for at most a second.
    value(shared, "query", "probe:clock")
    first = value(shared, "query", "probe:clock")  # the second ask is cached
    assert value(shared, "query", "probe:clock") == first
    time.sleep(1.1)
    assert value(shared, "query", "probe:clock") > first


# -- consistency --------------------------------------------------------------------------------


def decode_ts(encoded: str) -> int:
    return struct.unpack("<Q", base64.b64decode(encoded))[0]


def test_all_queries_of_a_client_are_at_one_timestamp(shared: RunningServer) -> None:
    """Over the raw protocol: every Transition leaves the moving task in
    exactly one of the two subscribed lists, and timestamps never go back."""
    run = uuid.uuid4().hex[:6]
    here, there = f"here-{run}", f"there-{run}"
    task = value(shared, "mutation", "tasks:add", {"list": here, "title": "box"})
    moves = 30

    def move_it_around() -> None:
        for i in range(1, moves + 1):
            value(shared, "mutation", "tasks:move", {"id": task, "to": there if i % 2 else here})
        value(shared, "mutation", "tasks:rename", {"id": task, "title": "done moving"})

    ws_url = shared.url.replace("http://", "ws://") + "/api/sync"
    with connect(ws_url, open_timeout=10) as ws:
        ws.send(json.dumps({"type": "Connect", "sessionId": str(uuid.uuid4()), "connectionCount": 0, "lastCloseReason": "InitialConnect"}))
        ws.send(json.dumps({
            "type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1,
            "modifications": [
                {"type": "Add", "queryId": 0, "udfPath": "tasks:in_list", "args": [{"list": here}]},
                {"type": "Add", "queryId": 1, "udfPath": "tasks:in_list", "args": [{"list": there}]},
            ],
        }))
        results: dict[int, list[str]] = {}
        last_ts = -1
        transitions = 0
        mover = threading.Thread(target=move_it_around)
        started = False
        deadline = time.monotonic() + 30
        while True:
            msg = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg["type"] != "Transition":
                continue
            transitions += 1
            for mod in msg["modifications"]:
                assert mod["type"] == "QueryUpdated", mod
                results[mod["queryId"]] = mod["value"]
            ts = decode_ts(msg["endVersion"]["ts"])
            assert ts >= last_ts, "a Transition went back in time"
            last_ts = ts
            assert len(results) == 2, "the first Transition must carry both new queries"
            assert len(results[0]) + len(results[1]) == 1, f"inconsistent results: {results}"
            if not started:
                mover.start()
                started = True
            if results[0] + results[1] == ["done moving"]:
                break
        mover.join(10)
    assert transitions >= 5, f"only {transitions} Transitions: the test saw too few states"


def test_a_clients_mutations_run_in_the_order_sent(shared: RunningServer) -> None:
    burst = fresh_list()

    async def send_all() -> list[str]:
        async with AsyncClient(shared.url) as client:
            # Sent back to back, without waiting for the answers.
            await asyncio.gather(*[client.mutation("tasks:add", {"list": burst, "title": f"t{i}"}) for i in range(25)])
            return await client.query("tasks:in_list", {"list": burst})

    assert asyncio.run(send_all()) == [f"t{i}" for i in range(25)]
