#!/usr/bin/env bash
# Set up and run the whole test suite (the one command CI runs):
#
#   bash scripts/test.sh [pytest args...]
#
# On a fresh Debian machine with Python 3.11 and Node 20 it creates .venv,
# installs Livebase with its test extra, installs the pinned npm client in
# tests/js, lints, and runs pytest. Each setup step is skipped when already
# up to date, so running it again is cheap. Works from any directory.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# -- Python ---------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
    PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
    say "creating .venv with $PYTHON"
    "$PYTHON" -m venv .venv
fi
# Reinstall only when pyproject.toml changed since the last install.
stamp=.venv/.livebase-test-install
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! .venv/bin/python -c "import livebase, pytest, convex, mypy" 2>/dev/null; then
    say "installing livebase[test] into .venv"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
    echo "$want" > "$stamp"
fi

# -- Node (the official npm client tests) -----------------------------------------
if command -v node >/dev/null && command -v npm >/dev/null; then
    lock_hash="$(sha256sum tests/js/package-lock.json | cut -d' ' -f1)"
    js_stamp=tests/js/node_modules/.livebase-lock-hash
    if [ ! -f "$js_stamp" ] || [ "$(cat "$js_stamp")" != "$lock_hash" ]; then
        say "npm ci in tests/js"
        (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
        echo "$lock_hash" > "$js_stamp"
    fi
else
    say "node/npm not found: the npm client tests will be skipped"
fi

# -- Lint, type-check and test -------------------------------------------------------
# All always run; the script fails if any does.
say "ruff check livebase tests"
lint=0
.venv/bin/ruff check livebase tests || lint=$?

say "mypy livebase"
types=0
.venv/bin/mypy livebase || types=$?

say "pytest"
tests=0
.venv/bin/pytest -q "$@" || tests=$?

if [ "$lint" -ne 0 ]; then
    say "ruff found problems (exit $lint)"
fi
if [ "$types" -ne 0 ]; then
    say "mypy found problems (exit $types)"
fi
if [ "$tests" -ne 0 ]; then
    say "pytest failed (exit $tests)"
fi
[ "$lint" -eq 0 ] && [ "$types" -eq 0 ] && [ "$tests" -eq 0 ]
