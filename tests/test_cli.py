"""The ``livebase`` command: ``init``, ``run`` (in-process and against a
server), and ``dev`` (ports, folders, reload on change)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.http import HTTP, call, value
from tests.support.server import RunningServer, free_port, make_project, start_server

_SCRIPT = Path(sys.executable).parent / "livebase"
# The installed console script, as users run it.
LIVEBASE = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "livebase.cli.main"]


def livebase(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LIVEBASE_ADMIN_KEY"}
    return subprocess.run(
        [*LIVEBASE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def _json_out(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(_ok(result))


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# -- init ---------------------------------------------------------------------------


def test_init_creates_a_runnable_project(tmp_path: Path) -> None:
    out = livebase("init", "myapp", cwd=tmp_path)
    _ok(out)
    project = tmp_path / "myapp"
    assert (project / "functions" / "schema.py").is_file()
    assert any(p.suffix == ".py" and p.name != "schema.py" for p in (project / "functions").iterdir())
    assert ".livebase" in (project / ".gitignore").read_text()

    # Runs in-process right away...
    doc_id = _json_out(livebase("run", "messages:send", '{"author": "me", "body": "hi"}', "--dir", "myapp", cwd=tmp_path))
    assert isinstance(doc_id, str) and doc_id
    listed = _json_out(livebase("run", "messages:list", "--dir", str(project)))
    assert [(m["author"], m["body"]) for m in listed] == [("me", "hi")]
    assert not (project / ".livebase" / "server.json").exists()

    # ...and serves, with the data written above.
    server = start_server(project)
    try:
        assert [m["_id"] for m in value(server, "query", "messages:list", fmt="json")] == [doc_id]
        value(server, "mutation", "messages:send", {"author": "http", "body": "there"})
        assert len(value(server, "query", "messages:list")) == 2
    finally:
        server.stop()

    # A second init refuses to overwrite.
    again = livebase("init", "myapp", cwd=tmp_path)
    assert again.returncode != 0
    assert "already exists" in again.stderr + again.stdout


# -- run ----------------------------------------------------------------------------


def test_run_in_process(project: Callable[[str], Path]) -> None:
    d = str(project("testapp"))
    _json_out(livebase("run", "messages:send", '{"author": "cli", "body": "one"}', "--dir", d))
    _json_out(livebase("run", "messages:send", '{"author": "cli", "body": "two"}', "--dir", d))
    assert _json_out(livebase("run", "messages:count", "--dir", d)) == 2
    # Internal functions are allowed from the CLI.
    assert _json_out(livebase("run", "calls:secret_double", '{"x": 21}', "--dir", d)) == 42
    _ok(livebase("run", "messages:clear", "{}", "--dir", d))
    assert _json_out(livebase("run", "messages:count", "--dir", d)) == 0
    # Actions, nested modules, default exports.
    assert _json_out(livebase("run", "calls:chain", '{"x": 1, "body": "b"}', "--dir", d))["doubled"] == 2
    assert _json_out(livebase("run", "nested/deep", "--dir", d)) == "nested default export"
    # Log lines are shown, the value is the JSON on stdout.
    result = livebase("run", "failures:logs", "--dir", d)
    assert "printed line 1" in result.stdout + result.stderr
    assert json.loads(_ok(result).strip().splitlines()[-1]) == "logged"
    assert not (Path(d) / ".livebase" / "server.json").exists()


def test_run_reports_failures(project: Callable[[str], Path]) -> None:
    d = str(project("testapp"))
    crash = livebase("run", "failures:crash", "--dir", d)
    assert crash.returncode == 1
    assert "Uncaught ValueError: boom: the secret is 42" in crash.stdout + crash.stderr
    app_error = livebase("run", "failures:app_error", '{"data": {"code": "E42"}}', "--dir", d)
    assert app_error.returncode == 1
    assert "E42" in app_error.stdout + app_error.stderr
    missing = livebase("run", "nope:nothing", "--dir", d)
    assert missing.returncode != 0
    assert "Could not find function for 'nope:nothing'" in missing.stdout + missing.stderr
    bad_args = livebase("run", "messages:send", "{not json", "--dir", d)
    assert bad_args.returncode != 0
    assert "JSON" in bad_args.stderr
    wrong_args = livebase("run", "messages:send", '{"author": 5, "body": "x"}', "--dir", d)
    assert wrong_args.returncode == 1
    assert "args.author" in wrong_args.stdout + wrong_args.stderr
    no_project = livebase("run", "messages:list", "--dir", str(Path(d) / "missing"))
    assert no_project.returncode != 0
    assert "functions" in no_project.stderr
    assert "Traceback" not in crash.stderr + missing.stderr + bad_args.stderr + no_project.stderr


def test_run_against_a_running_server(project: Callable[[str], Path], tmp_path: Path) -> None:
    d = project("testapp")
    server = start_server(d, mode="serve")  # no reload: the server keeps what it loaded
    try:
        # A module added after start exists on disk but not in the server:
        # `livebase run` must go through the server (found via server.json).
        (d / "functions" / "late.py").write_text(
            "from livebase import query\n\n\n@query(args={})\ndef hello(ctx):\n    return 'in-process'\n"
        )
        late = livebase("run", "late:hello", "--dir", str(d))
        assert late.returncode != 0
        assert "Could not find function for 'late:hello'" in late.stdout + late.stderr

        # Internal functions are allowed (the CLI uses the admin key).
        assert _json_out(livebase("run", "calls:secret_double", '{"x": 4}', "--dir", str(d))) == 8
        doc_id = _json_out(livebase("run", "calls:secret_send", '{"body": "via cli"}', "--dir", str(d)))
        assert value(server, "query", "calls:get_message", {"id": doc_id}, fmt="json")["body"] == "via cli"

        # --url and --admin-key work from anywhere.
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        args = ("--url", server.url, "--admin-key", server.admin_key)
        assert _json_out(livebase("run", "calls:secret_double", '{"x": 5}', *args, cwd=elsewhere)) == 10
        bad_key = livebase("run", "messages:count", "--url", server.url, "--admin-key", "wrong", cwd=elsewhere)
        assert bad_key.returncode != 0
        assert "admin key in the Authorization header is not valid" in bad_key.stderr
        # Without an admin key, internal functions stay hidden.
        public_only = livebase("run", "calls:secret_double", '{"x": 5}', "--url", server.url, cwd=elsewhere)
        assert public_only.returncode == 1
        assert "Could not find public function" in public_only.stdout + public_only.stderr
        assert not (elsewhere / ".livebase").exists()
    finally:
        server.stop()


# -- dev ----------------------------------------------------------------------------


def test_dev_honours_port_and_dir(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", "testapp")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    port, site_port = free_port(), free_port()
    server = RunningServer(project, "dev", port, site_port, cwd=cwd, dir_arg="../proj")
    server.start()
    try:
        assert HTTP.get(f"http://127.0.0.1:{port}/version", timeout=5).status_code == 200
        state = json.loads((project / ".livebase" / "server.json").read_text())
        assert state["url"] == f"http://127.0.0.1:{port}"
        assert state["pid"] == server.process.pid  # type: ignore[union-attr]
        value(server, "mutation", "messages:send", {"author": "dir", "body": "x"})
        assert (project / ".livebase" / "data.sqlite3").is_file()
        # Nothing is created in the working directory.
        assert list(cwd.iterdir()) == []
    finally:
        server.stop()
    assert server.process is not None and server.process.returncode is not None
    assert not (project / ".livebase" / "server.json").exists(), "server.json outlived the server"
    # The data stays in the project folder.
    again = start_server(project)
    try:
        assert value(again, "query", "messages:count") == 1
    finally:
        again.stop()


def test_dev_refuses_a_busy_port(tmp_path: Path, testapp: RunningServer) -> None:
    project = make_project(tmp_path / "busy", "testapp")
    result = livebase("dev", "--dir", str(project), "--port", str(testapp.port), "--site-port", str(free_port()), timeout=30)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert str(testapp.port) in result.stderr + result.stdout


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    project = make_project(tmp_path_factory.mktemp("reload") / "app", "testapp")
    server = start_server(project)
    yield server
    server.stop()


def _functions(server: RunningServer) -> Path:
    return server.project_dir / "functions"


def _write(path: Path, text: str) -> None:
    # Write atomically so the watcher never loads a half-written file.
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _succeeds(server: RunningServer, endpoint: str, path: str, args: dict[str, Any] | None = None) -> Any:
    def check() -> bool:
        return call(server, endpoint, path, args, fmt="json")["status"] == "success"

    return check


def test_dev_reloads_a_new_function(dev_server: RunningServer) -> None:
    assert call(dev_server, "query", "added:hello", fmt="json")["status"] == "error"
    _write(
        _functions(dev_server) / "added.py",
        "from livebase import query, v\n\n\n"
        "@query(args={'name': v.optional(v.string())})\n"
        "def hello(ctx, name=None):\n    return f'hello {name or \"world\"} v1'\n",
    )
    _wait_for(_succeeds(dev_server, "query", "added:hello"), "added:hello to appear")
    assert value(dev_server, "query", "added:hello", {"name": "x"}, fmt="json") == "hello x v1"
    # Editing it changes what runs, without a restart.
    pid = dev_server.process.pid  # type: ignore[union-attr]
    text = (_functions(dev_server) / "added.py").read_text().replace(" v1'", " v2'")
    _write(_functions(dev_server) / "added.py", text)
    _wait_for(lambda: value(dev_server, "query", "added:hello", fmt="json") == "hello world v2", "the edit to load")
    assert dev_server.process.pid == pid and dev_server.process.poll() is None  # type: ignore[union-attr]


def test_dev_applies_a_schema_change(dev_server: RunningServer) -> None:
    functions = _functions(dev_server)
    schema = (functions / "schema.py").read_text()
    assert schema.rstrip().endswith("})")
    new_table = '    "notes": define_table({"tag": v.string(), "text": v.string()}).index("by_tag", ["tag"]),\n'
    _write(functions / "schema.py", schema.rstrip()[: -len("})")] + new_table + "})\n")
    _write(
        functions / "notes.py",
        "from livebase import mutation, query, v\n\n\n"
        "@mutation(args={'tag': v.string(), 'text': v.string()})\n"
        "def add(ctx, tag, text):\n    return ctx.db.insert('notes', {'tag': tag, 'text': text})\n\n\n"
        "@query(args={'tag': v.string()})\n"
        "def by_tag(ctx, tag):\n"
        "    rows = ctx.db.query('notes').with_index('by_tag', lambda q: q.eq('tag', tag)).collect()\n"
        "    return [r['text'] for r in rows]\n",
    )
    _wait_for(_succeeds(dev_server, "query", "notes:by_tag", {"tag": "a"}), "the new index to be usable")
    for tag, text in [("a", "1"), ("b", "2"), ("a", "3")]:
        value(dev_server, "mutation", "notes:add", {"tag": tag, "text": text}, fmt="json")
    assert sorted(value(dev_server, "query", "notes:by_tag", {"tag": "a"}, fmt="json")) == ["1", "3"]
    assert value(dev_server, "query", "notes:by_tag", {"tag": "b"}, fmt="json") == ["2"]


@pytest.mark.parametrize(
    ("filename", "broken"),
    [
        ("broken.py", "from livebase import query\n\n@query(args={})\ndef oops(ctx:\n    return 1\n"),
        ("broken.py", "raise RuntimeError('import-time failure')\n"),
        ("messages.py", "def (\n"),
    ],
    ids=["syntax error in a new module", "import error", "syntax error in an existing module"],
)
def test_a_broken_file_keeps_the_old_functions(dev_server: RunningServer, filename: str, broken: str) -> None:
    path = _functions(dev_server) / filename
    original = path.read_text() if path.exists() else None
    count = value(dev_server, "query", "messages:count")
    failures_before = dev_server.log().count("Reload failed")
    _write(path, broken)
    try:
        _wait_for(lambda: dev_server.log().count("Reload failed") > failures_before, "the failed reload to be reported")
        # The previous functions keep serving, reads and writes alike.
        assert value(dev_server, "query", "messages:count") == count
        value(dev_server, "mutation", "messages:send", {"author": "still", "body": "serving"})
        assert value(dev_server, "query", "messages:count") == count + 1
        assert dev_server.process.poll() is None  # type: ignore[union-attr]
    finally:
        if original is None:
            path.unlink()
        else:
            _write(path, original)
    # Once fixed, reloading works again.
    _write(
        _functions(dev_server) / "fixed.py",
        f"from livebase import query\n\n\n@query(args={{}})\ndef marker(ctx):\n    return {filename!r} + ' fixed'\n",
    )
    _wait_for(
        lambda: call(dev_server, "query", "fixed:marker", fmt="json").get("value") == f"{filename} fixed",
        "a reload after the fix",
    )
