"""Crash safety of ``livebase serve``: every acknowledged mutation survives a
``kill -9`` under write load, nothing is applied twice, and commit
timestamps never go backwards across restarts."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.http import decode_ts, value
from tests.support.server import RunningServer, make_project, start_server

WRITERS = 6
LOAD_SECONDS = 2.0


def _query_ts(server: RunningServer) -> int:
    response = httpx.post(server.url + "/api/query_ts", timeout=10)
    assert response.status_code == 200, response.text
    return decode_ts(response.json()["ts"])


def _all_keys(server: RunningServer) -> list[str]:
    keys: list[str] = []
    cursor = None
    for _ in range(10_000):
        page = value(server, "query", "writes:page", {"cursor": cursor, "num": 500}, fmt="json")
        keys.extend(d["key"] for d in page["page"])
        if page["isDone"]:
            return keys
        cursor = page["continueCursor"]
    raise AssertionError("pagination did not finish")


class _Load:
    """Writer threads inserting client-keyed documents as fast as they can."""

    def __init__(self, server: RunningServer, tag: str) -> None:
        self.server = server
        self.tag = tag
        self.acked: list[str] = []
        self.sent: list[str] = []
        self.max_ts_seen = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.unexpected: list[str] = []
        self.threads = [threading.Thread(target=self._write, args=(i,), daemon=True) for i in range(WRITERS)]
        self.threads.append(threading.Thread(target=self._watch_ts, daemon=True))

    def _write(self, i: int) -> None:
        with httpx.Client(timeout=10) as client:
            seq = 0
            while not self.stop.is_set():
                key = f"{self.tag}-{i}-{seq}"
                seq += 1
                with self.lock:
                    self.sent.append(key)
                try:
                    response = client.post(
                        self.server.url + "/api/mutation",
                        json={"path": "writes:put", "args": {"key": key}, "format": "json"},
                    )
                except httpx.HTTPError:
                    return  # the server is gone: this write is unacknowledged
                body: dict[str, Any] = response.json() if response.status_code == 200 else {}
                if body.get("status") == "success":
                    with self.lock:
                        self.acked.append(key)
                else:
                    with self.lock:
                        self.unexpected.append(f"{response.status_code} {response.text[:300]}")
                    return

    def _watch_ts(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                try:
                    response = client.post(self.server.url + "/api/query_ts")
                except httpx.HTTPError:
                    return
                if response.status_code == 200:
                    self.max_ts_seen = max(self.max_ts_seen, decode_ts(response.json()["ts"]))
                time.sleep(0.02)

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(20)
        assert not any(t.is_alive() for t in self.threads), "a writer hung"


def _check(server: RunningServer, loads: list[_Load]) -> None:
    stored = _all_keys(server)
    counts = Counter(stored)
    duplicated = [k for k, n in counts.items() if n > 1]
    assert not duplicated, f"{len(duplicated)} keys stored twice, e.g. {duplicated[:5]}"
    for load in loads:
        assert not load.unexpected, load.unexpected[:3]
        missing = [k for k in load.acked if k not in counts]
        assert not missing, f"{len(missing)} of {len(load.acked)} acknowledged writes lost, e.g. {missing[:5]}"
        # Anything stored beyond the acknowledged writes was in flight at
        # the crash: at most one per writer, and it was really sent.
        mine = {k for k in counts if k.startswith(load.tag + "-")}
        extra = mine - set(load.acked)
        assert extra <= set(load.sent)
        assert len(extra) <= WRITERS, extra


@pytest.fixture
def serve_project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "durable", "testapp")


def test_acknowledged_writes_survive_kill_9(serve_project: Path) -> None:
    server = start_server(serve_project, mode="serve")
    loads: list[_Load] = []
    ts_floor = 0
    try:
        for round_ in range(2):
            load = _Load(server, f"r{round_}")
            loads.append(load)
            load.start()
            deadline = time.monotonic() + LOAD_SECONDS
            while time.monotonic() < deadline and len(load.acked) < 3000:
                time.sleep(0.05)
            acked_before_kill = len(load.acked)
            server.kill()  # SIGKILL while the writers are mid-request
            load.join()
            assert acked_before_kill > 50, f"too little load to be meaningful ({acked_before_kill} writes)"
            ts_before = max(load.max_ts_seen, ts_floor)
            assert ts_before > 0

            server.start()
            ts_after = _query_ts(server)
            assert ts_after >= ts_before, "commit timestamps went backwards across the crash"
            _check(server, loads)
            # A new commit gets a later timestamp than anything before the crash.
            value(server, "mutation", "writes:put", {"key": f"after-{round_}"}, fmt="json")
            ts_floor = _query_ts(server)
            assert ts_floor > ts_before
        assert value(server, "query", "writes:count_key", {"key": "after-0"}) == 1
    finally:
        server.stop()


def test_timestamps_are_monotonic_across_clean_restarts(serve_project: Path) -> None:
    server = start_server(serve_project, mode="serve")
    try:
        seen = [_query_ts(server)]
        for i in range(3):
            value(server, "mutation", "writes:put", {"key": f"restart-{i}"}, fmt="json")
            seen.append(_query_ts(server))
            server.restart()
            seen.append(_query_ts(server))
        # Strictly increasing across commits, never decreasing across restarts.
        assert all(b >= a for a, b in itertools.pairwise(seen)), seen
        assert seen[-1] > seen[0]
        assert sorted(_all_keys(server)) == [f"restart-{i}" for i in range(3)]
    finally:
        server.stop()
