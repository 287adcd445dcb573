"""The user-code time limit of queries and mutations, through a real server."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.server import RunningServer, make_project, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    s = start_server(make_project(tmp_path_factory.mktemp("limits"), "limitsapp"))
    yield s
    s.stop()


def call(server: RunningServer, kind: str, path: str) -> dict:
    response = httpx.post(f"{server.url}/api/{kind}", json={"path": path, "args": {}}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_runaway_query_is_stopped_and_the_server_keeps_serving(server: RunningServer) -> None:
    started = time.monotonic()
    body = call(server, "query", "slow:spin")
    assert body["status"] == "error"
    assert "timed out" in body["errorMessage"] and "1 s" in body["errorMessage"]
    assert time.monotonic() - started < 5
    assert call(server, "query", "slow:quick")["value"] == "ok"


def test_a_mutation_over_the_limit_writes_nothing(server: RunningServer) -> None:
    body = call(server, "mutation", "slow:spin_then_write")
    assert body["status"] == "error"
    assert "timed out" in body["errorMessage"]
    assert call(server, "query", "slow:count")["value"] == 0


def test_an_action_raising_timeout_error_is_not_mistaken_for_the_limit(server: RunningServer) -> None:
    body = call(server, "action", "slow:raises_timeout_error")
    assert body["status"] == "error"
    assert "the upstream service timed out" in body["errorMessage"]
    assert "limit" not in body["errorMessage"]
