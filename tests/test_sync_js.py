"""The official npm clients (convex 1.48.0, pinned in tests/js) over the
WebSocket sync protocol (PROTOCOL.md §6), run by Node 20 against a real
Livebase server running tests/apps/syncapp:

- ``tests/js/sync_client.test.mjs``: ``ConvexClient`` from ``convex/browser``
  — live updates, read-your-writes, snapshot consistency under concurrent
  transfers, no pushes for unrelated writes, reconnect after the server
  drops the socket (exactly-once mutations), AppError data.
- ``tests/js/sync_react.test.mjs``: ``ConvexReactClient`` (with ``ws``, no
  DOM) — ``watchQuery`` and optimistic updates, applied and rolled back.

Each check runs as its own pytest test (one Node process), so a failure
names the check and shows Node's output.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.node import run_node
from tests.support.server import RunningServer, make_project, start_server

CLIENT = "sync_client.test.mjs"
REACT = "sync_react.test.mjs"
CHECKS: dict[str, list[str]] = {
    CLIENT: [
        "onUpdate sees other clients' mutations",
        "a resolved mutation's write is already in the subscribed queries",
        "a mutation resolves when none of its client's results changed",
        "subscribers never see a broken total under concurrent transfers",
        "writes to another channel push nothing",
        "reconnect after the server drops the socket",
        "an AppError from a query reaches the error callback with .data",
    ],
    REACT: [
        "watchQuery sees another client's mutation",
        "an optimistic update shows at once, then the server's value replaces it",
        "a failed mutation rolls its optimistic update back",
    ],
}
# Checks that fail because of known server bugs: {(script, name): reason}.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module")
def syncapp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    project = make_project(tmp_path_factory.mktemp("syncapp_js"), "syncapp")
    server = start_server(project)
    yield server
    server.stop()


def _params() -> list[object]:
    params: list[object] = []
    for script, names in CHECKS.items():
        for name in names:
            marks = []
            if (script, name) in KNOWN_BUGS:
                marks.append(pytest.mark.xfail(reason=KNOWN_BUGS[(script, name)], strict=True))
            params.append(pytest.param(script, name, marks=marks, id=f"{script.split('.')[0]}: {name}"))
    return params


@pytest.mark.parametrize("script", list(CHECKS))
def test_check_list_matches_the_script(script: str) -> None:
    result = run_node(script, "--list")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == CHECKS[script]


@pytest.mark.parametrize(("script", "check"), _params())
def test_npm_sync_client(syncapp: RunningServer, script: str, check: str) -> None:
    result = run_node(script, syncapp.url, syncapp.admin_key, check, timeout=60)
    output = f"--- node stdout ---\n{result.stdout}\n--- node stderr ---\n{result.stderr}"
    assert result.returncode == 0, output
    assert f"ok   {check}" in result.stdout, output
