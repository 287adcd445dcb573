"""The official npm ``convex`` package (1.48.0, pinned in tests/js): its
``ConvexHttpClient`` run by Node against a real Livebase server.

Each check of ``tests/js/http_client.test.mjs`` runs as its own pytest test,
so a failure names the check and shows Node's output.
"""

from __future__ import annotations

import json

import pytest

from tests.support.node import run_node
from tests.support.server import RunningServer

SCRIPT = "http_client.test.mjs"
CHECKS = [
    "query, mutation and action through anyApi",
    "string function paths",
    "default exports and nested modules",
    "every value type round-trips",
    "the server sees the right types",
    "values produced by the server",
    "ConvexError carries .data",
    "plain errors",
    "consistentQuery reads at one timestamp",
    "consistentQuery of a cached query",
    "setAuth with a user token gets the documented 401",
    "setAdminAuth calls internal functions",
    "function() runs any kind with a bare args object",
]
# Checks that fail because of known server bugs: {name: reason}.
KNOWN_BUGS: dict[str, str] = {}


def _params() -> list[object]:
    return [
        pytest.param(c, marks=pytest.mark.xfail(reason=KNOWN_BUGS[c], strict=True)) if c in KNOWN_BUGS else c
        for c in CHECKS
    ]


def test_check_list_matches_the_script() -> None:
    result = run_node(SCRIPT, "--list")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == CHECKS


@pytest.mark.parametrize("check", _params())
def test_npm_http_client(testapp: RunningServer, check: str) -> None:
    result = run_node(SCRIPT, testapp.url, testapp.admin_key, check)
    output = f"--- node stdout ---\n{result.stdout}\n--- node stderr ---\n{result.stderr}"
    assert result.returncode == 0, output
    assert f"ok   {check}" in result.stdout, output
