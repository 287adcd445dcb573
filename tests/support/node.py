"""Run the Node scripts of tests/js (the official npm ``convex`` client)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.support.server import REPO

JS_DIR = REPO / "tests" / "js"


def require_node() -> str:
    """The ``node`` executable; skips the test (or fails, when
    ``LIVEBASE_REQUIRE_NODE=1`` as on CI) if Node or ``tests/js/node_modules`` is missing."""
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "`node` is not on PATH (install Node 20 to run the npm client tests)"
    elif not (JS_DIR / "node_modules" / "convex" / "package.json").exists():
        problem = "tests/js/node_modules is missing: run `npm ci` in tests/js (scripts/test.sh does)"
    if problem is not None:
        if os.environ.get("LIVEBASE_REQUIRE_NODE") == "1":
            pytest.fail(problem + " -- required because LIVEBASE_REQUIRE_NODE=1")
        pytest.skip(problem)
    assert node is not None
    return node


def run_node(script: str, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    node = require_node()
    return subprocess.run(
        [node, str(JS_DIR / script), *args],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
