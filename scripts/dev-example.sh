#!/usr/bin/env bash
# Run the chat example (examples/chat) on http://127.0.0.1:3210 with reload.
#
#   bash scripts/dev-example.sh              # from any folder
#   bash scripts/dev-example.sh --port 4000  # extra arguments go to `livebase dev`
#
# On first use it creates .venv in the repository and installs Livebase into
# it (pip install -e .); later runs install again only when pyproject.toml
# has changed since.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

# A Python >= 3.11: $PYTHON if set, else the first of python3.11, python3.
find_python() {
    local candidate
    for candidate in ${PYTHON:-} python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "dev-example.sh: Livebase needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
    return 1
}

# True when .venv already runs this checkout of Livebase with its server
# dependencies (installed by scripts/test.sh or by hand).
livebase_ready() {
    .venv/bin/python - "$repo/livebase" 2>/dev/null <<'PY'
import pathlib, sys
import livebase, livebase.cli.main, livebase.server.serve
sys.exit(pathlib.Path(livebase.__file__).resolve().parent != pathlib.Path(sys.argv[1]).resolve())
PY
}

if [ ! -x .venv/bin/python ]; then
    python="$(find_python)"
    echo "Creating .venv with $("$python" --version 2>&1)..." >&2
    if ! "$python" -m venv .venv; then
        rm -rf .venv
        echo "dev-example.sh: '$python -m venv' failed; on Debian or Ubuntu: apt-get install python3-venv" >&2
        exit 1
    fi
fi

stamp=.venv/.livebase-installed
wanted="$(cksum < pyproject.toml)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    if [ -f "$stamp" ] || ! livebase_ready; then
        echo "Installing Livebase into .venv (pip install -e .)..." >&2
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
    fi
    echo "$wanted" > "$stamp"
fi

exec .venv/bin/livebase dev --dir examples/chat "$@"
