"""Environment variables: ``livebase env`` (against a running server and on
the data folder), ``ctx.env`` in every kind of function, reactivity
(subscriptions, the HTTP query cache), persistence, the admin API, and
docs/env.md run for real."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from livebase.client import Client
from tests.support.server import REPO, RunningServer, make_project, start_server

pytestmark = pytest.mark.timeout(60)

PAGE = REPO / "docs" / "env.md"
EXAMPLE = REPO / "docs" / "examples" / "env"
NAME_ERROR = "invalid environment variable name"


# -- helpers -----------------------------------------------------------------------


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livebase.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def env_cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return cli("env", *args, "--dir", str(project))


def run(server: RunningServer, kind: str, path: str, args: dict[str, Any] | None = None) -> Any:
    response = httpx.post(f"{server.url}/api/{kind}", json={"path": path, "args": args or {}}, timeout=30)
    body = response.json()
    assert body["status"] == "success", body
    return body["value"]


def failure(server: RunningServer, kind: str, path: str, args: dict[str, Any]) -> str:
    body = httpx.post(f"{server.url}/api/{kind}", json={"path": path, "args": args}, timeout=30).json()
    assert body["status"] == "error", body
    return body["errorMessage"]


def admin_env(server: RunningServer, changes: dict[str, str | None] | None = None) -> dict[str, str]:
    if changes is None:
        response = httpx.get(f"{server.url}/api/_admin/env", headers=server.admin_headers(), timeout=30)
    else:
        response = httpx.post(
            f"{server.url}/api/_admin/env", json={"changes": changes}, headers=server.admin_headers(), timeout=30
        )
    assert response.status_code == 200, response.text
    return response.json()["env"]


def runs_of(server: RunningServer, path: str) -> int:
    """How many runs of ``path`` the server's log holds."""
    response = httpx.get(f"{server.url}/api/_admin/logs?history=1000", headers=server.admin_headers(), timeout=30)
    return sum(1 for entry in response.json()["entries"] if entry["path"] == path)


def unique(prefix: str = "V") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8].upper()}"


def reset_env(server: RunningServer, values: dict[str, str]) -> None:
    """Make the server's variables exactly ``values``."""
    changes: dict[str, str | None] = {name: None for name in admin_env(server)}
    changes.update(values)
    if changes:
        admin_env(server, changes)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(make_project(tmp_path_factory.mktemp("envapp"), "envapp"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server on docs/examples/env."""
    running = start_server(make_project(tmp_path_factory.mktemp("env-example"), EXAMPLE))
    yield running
    running.stop()


# -- docs/env.md -------------------------------------------------------------------

FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)


def test_page_blocks_are_the_files() -> None:
    shown = set()
    for match in FENCE.finditer(PAGE.read_text()):
        body = match.group(2)
        if body.startswith("# docs/examples/"):
            name, _, rest = body.partition("\n")
            path = REPO / name.removeprefix("# ")
            assert path.is_file(), name
            assert rest == path.read_text(), f"the block for {name} differs from the file"
            shown.add(path)
    files = {p for p in EXAMPLE.rglob("*.py") if "__pycache__" not in p.parts}
    assert files and files == shown, f"example files the page doesn't show: {files - shown}"


def transcript(kind: str) -> list[tuple[str, str]]:
    """(command, expected output) for each ``$ .venv/bin/livebase ...`` or
    ``$ curl ...`` line of the page's console blocks."""
    steps = []
    for match in FENCE.finditer(PAGE.read_text()):
        if match.group(1) != "console":
            continue
        lines = match.group(2).splitlines()
        for i, line in enumerate(lines):
            if line.startswith(f"$ {kind}"):
                output = []
                for after in lines[i + 1:]:
                    if after.startswith("$ "):
                        break
                    output.append(after)
                steps.append((line.removeprefix("$ "), "\n".join(output)))
    assert steps, f"no {kind} commands on the page"
    return steps


def test_page_cli_transcript(tmp_path: Path, example: RunningServer) -> None:
    # Once on the data folder (no server), once against the running server.
    reset_env(example, {})
    for project in (make_project(tmp_path / "env", EXAMPLE), example.project_dir):
        for command, expected in transcript(".venv/bin/livebase"):
            args = command.split()[1:]
            args[args.index("--dir") + 1] = str(project)
            done = cli(*args)
            assert (done.stdout + done.stderr).strip() == expected, f"{command} (on {project})"
    assert admin_env(example) == {"SIGNUPS_OPEN": "yes"}  # the server saw every change


def test_page_admin_api_transcript(example: RunningServer) -> None:
    reset_env(example, {"SIGNUPS_OPEN": "yes"})
    for command, expected in transcript("curl"):
        body = re.search(r"-d '([^']*)'", command)
        headers = example.admin_headers()
        if body is None:
            response = httpx.get(f"{example.url}/api/_admin/env", headers=headers)
        else:
            response = httpx.post(f"{example.url}/api/_admin/env", content=body.group(1), headers=headers)
        assert response.status_code == 200
        assert response.json() == json.loads(expected), command


class Webhook(BaseHTTPRequestHandler):
    received: list[tuple[str, str, Any]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Webhook.received.append((self.path, self.headers["Authorization"], body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_page_examples(example: RunningServer) -> None:
    reset_env(example, {})
    hook = HTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        # Feature flag: closed until set, in the query and the mutation.
        assert run(example, "query", "signups:is_open") is False
        body = httpx.post(f"{example.url}/api/mutation", json={"path": "signups:sign_up", "args": {"email": "a@b.c"}}).json()
        assert body["errorData"] == {"code": "signups_closed"}
        admin_env(example, {"SIGNUPS_OPEN": "yes"})
        assert run(example, "query", "signups:is_open") is True
        assert run(example, "mutation", "signups:sign_up", {"email": "a@b.c"})

        # The webhook: not configured, then configured with the CLI.
        body = httpx.post(f"{example.url}/api/action", json={"path": "notify:post", "args": {"text": "hi"}}).json()
        assert body["errorData"] == {"code": "not_configured", "missing": "WEBHOOK_URL"}
        url = f"http://127.0.0.1:{hook.server_port}/hooks/T042"
        assert env_cli(example.project_dir, "set", "WEBHOOK_URL", url).returncode == 0
        assert env_cli(example.project_dir, "set", "WEBHOOK_TOKEN", "s3cr3t").returncode == 0
        assert run(example, "action", "notify:post", {"text": "deployed"}) == 204
        assert Webhook.received == [("/hooks/T042", "Bearer s3cr3t", {"text": "deployed"})]
    finally:
        hook.shutdown()


# -- the CLI -------------------------------------------------------------------------


def test_cli_against_a_running_server(server: RunningServer, tmp_path: Path) -> None:
    name = unique()
    project = server.project_dir
    assert run(server, "query", "config:get", {"name": name}) is None
    done = env_cli(project, "set", name, "hello world")
    assert done.returncode == 0, done.stderr
    assert f"Set {name}" in done.stderr
    # Applied by the server at once.
    assert run(server, "query", "config:get", {"name": name}) == "hello world"
    assert env_cli(project, "get", name).stdout == "hello world\n"
    assert f"{name}=hello world" in env_cli(project, "list").stdout.splitlines()

    # --url with the admin key from the environment (any folder).
    key = {"LIVEBASE_ADMIN_KEY": server.admin_key}
    done = cli("env", "set", name, "via url", "--url", server.url, env=key)
    assert done.returncode == 0, done.stderr
    assert run(server, "query", "config:get", {"name": name}) == "via url"
    done = cli("env", "get", name, "--url", server.url, "--admin-key", server.admin_key)
    assert done.stdout == "via url\n"
    no_key = cli("env", "list", "--url", server.url, env={"LIVEBASE_ADMIN_KEY": ""})
    assert no_key.returncode == 1 and "--url needs --admin-key" in no_key.stderr
    wrong_key = cli("env", "list", "--url", server.url, "--admin-key", "livebase|nope")
    assert wrong_key.returncode == 1 and "admin key in the Authorization header is not valid" in wrong_key.stderr

    done = env_cli(project, "remove", name)
    assert done.returncode == 0 and f"Removed {name}" in done.stderr
    assert run(server, "query", "config:get", {"name": name}) is None
    for command in ("get", "remove"):
        missing = env_cli(project, command, name)
        assert missing.returncode == 1
        assert f"Error: {name} is not set" in missing.stderr


def test_cli_on_the_data_folder(project: Any) -> None:
    folder = project("envapp")
    # No server runs: the commands work on .livebase/data.sqlite3 directly.
    assert env_cli(folder, "list").stdout == ""
    assert env_cli(folder, "set", "API_URL", "https://api.example.com").returncode == 0
    assert env_cli(folder, "set", "EMPTY", "").returncode == 0
    assert env_cli(folder, "get", "API_URL").stdout == "https://api.example.com\n"
    assert env_cli(folder, "get", "EMPTY").stdout == "\n"
    database = folder / ".livebase" / "data.sqlite3"
    assert database.stat().st_mode & 0o077 == 0, "the database (which holds the values) is readable by others"

    # A server started later uses them, and sees later offline changes after a restart.
    running = start_server(folder)
    try:
        assert run(running, "query", "config:get", {"name": "API_URL"}) == "https://api.example.com"
        assert run(running, "query", "config:names") == ["API_URL", "EMPTY"]
        running.stop()
        assert env_cli(folder, "remove", "EMPTY").returncode == 0
        assert env_cli(folder, "remove", "EMPTY").returncode == 1
        running.start()
        assert run(running, "query", "config:names") == ["API_URL"]
    finally:
        running.stop()


@pytest.mark.parametrize(
    "name", ["1ST", "WITH-DASH", "WITH SPACE", "", "A" * 41, "CAFÉ", "DOT.NAME"], ids=repr
)
def test_invalid_names_are_refused(server: RunningServer, name: str) -> None:
    response = httpx.post(
        f"{server.url}/api/_admin/env", json={"changes": {name: "x", "VALID_TOO": "x"}}, headers=server.admin_headers()
    )
    assert response.status_code == 400
    assert response.json()["code"] == "InvalidEnvironmentVariable"
    assert NAME_ERROR in response.json()["message"]
    assert "VALID_TOO" not in admin_env(server), "a refused change must change nothing"


def test_invalid_names_are_refused_by_the_cli(server: RunningServer, project: Any) -> None:
    for folder in (server.project_dir, project("envapp")):  # with and without a server
        done = env_cli(folder, "set", "2FA_SECRET", "x")
        assert done.returncode == 1
        assert done.stderr.startswith("Error: ")
        assert f"{NAME_ERROR} '2FA_SECRET'" in done.stderr
        assert "Traceback" not in done.stderr
        assert "2FA_SECRET" not in env_cli(folder, "list").stdout


def test_cli_error_from_a_server_reads_like_the_offline_one(server: RunningServer) -> None:
    done = env_cli(server.project_dir, "set", "2FA_SECRET", "x")
    assert done.stderr.startswith(f"Error: {NAME_ERROR} '2FA_SECRET'"), done.stderr


def test_name_edge_cases_are_accepted(server: RunningServer) -> None:
    longest = "A" * 40
    assert admin_env(server, {longest: "1", "_PRIVATE": "2", "lower_case9": "3"})[longest] == "1"
    assert run(server, "query", "config:get", {"name": "lower_case9"}) == "3"
    admin_env(server, {longest: None, "_PRIVATE": None, "lower_case9": None})


def test_oversized_value_is_refused(server: RunningServer) -> None:
    response = httpx.post(
        f"{server.url}/api/_admin/env", json={"changes": {"HUGE": "x" * 9000}}, headers=server.admin_headers()
    )
    assert response.status_code == 400, "a 9000-byte value was accepted"


def test_list_is_sorted_without_a_server_too(project: Any) -> None:
    folder = project("envapp")
    for name in ("ZED", "ALPHA"):
        assert env_cli(folder, "set", name, "1").returncode == 0
    assert env_cli(folder, "list").stdout.splitlines() == ["ALPHA=1", "ZED=1"]


# -- ctx.env ---------------------------------------------------------------------------


def test_ctx_env_in_every_kind_of_function(server: RunningServer) -> None:
    name = unique()
    admin_env(server, {name: "value 1"})
    assert run(server, "query", "config:get", {"name": name}) == "value 1"
    assert run(server, "query", "config:has", {"name": name}) is True
    assert run(server, "query", "config:strict", {"name": name}) == "value 1"
    assert run(server, "mutation", "config:remember", {"name": name}) == "value 1"
    assert run(server, "action", "config:fetch", {"name": name}) == {"action": "value 1", "query": "value 1"}
    response = httpx.get(f"{server.site_url}/env", params={"name": name})
    assert response.json() == {"value": "value 1"}

    admin_env(server, {name: None})
    assert run(server, "query", "config:has", {"name": name}) is False
    assert "KeyError" in failure(server, "query", "config:strict", {"name": name})
    assert run(server, "mutation", "config:remember", {"name": name}) is None
    assert run(server, "action", "config:fetch", {"name": name}) == {"action": None, "query": None}


def test_http_query_cache_is_invalidated_by_a_change(server: RunningServer) -> None:
    name, other = unique(), unique()
    admin_env(server, {name: "before"})
    args = {"name": name}
    runs = runs_of(server, "config:get")
    for _ in range(3):
        assert run(server, "query", "config:get", args) == "before"
    # Cached from the second ask (the cache's admission rule).
    assert runs_of(server, "config:get") == runs + 2, "the third query should come from the cache"
    # Another variable: the cached result stays.
    admin_env(server, {other: "x"})
    assert run(server, "query", "config:get", args) == "before"
    assert runs_of(server, "config:get") == runs + 2
    # Its own variable: dropped, run again, new value.
    admin_env(server, {name: "after"})
    assert run(server, "query", "config:get", args) == "after"
    assert runs_of(server, "config:get") == runs + 3
    # Iterating depends on every variable, even ones added later.
    assert other in run(server, "query", "config:names")
    admin_env(server, {other: None})
    assert other not in run(server, "query", "config:names")
    admin_env(server, {name: None})


def test_subscription_receives_the_new_value(server: RunningServer) -> None:
    name = unique()
    with Client(server.url) as client, client.subscribe("config:watched", {"name": name}) as watched:
        assert watched.next(timeout=10)["value"] is None
        done = env_cli(server.project_dir, "set", name, "on")
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 3
        value = None
        while value != "on" and time.monotonic() < deadline:
            try:
                value = watched.next(timeout=max(0.0, deadline - time.monotonic()))["value"]
            except TimeoutError:
                break
        assert value == "on", "the subscription never received the new value"


def test_subscription_that_did_not_read_it_is_not_rerun(server: RunningServer) -> None:
    name = unique()
    with Client(server.url) as client:
        watched = client.subscribe("config:watched", {"name": name})
        unrelated = client.subscribe("config:unrelated")
        first = watched.next(timeout=10)
        unrelated.next(timeout=10)
        admin_env(server, {name: "on"})
        # config:watched returns a new random number on every run: its next
        # result shows that the change reached this client ...
        assert watched.next(timeout=10)["run"] != first["run"]
        # ... and every query of a client is updated in the same Transition:
        # config:unrelated (which also returns a new number per run) didn't run.
        with pytest.raises(TimeoutError):
            unrelated.next(timeout=0.3)
    admin_env(server, {name: None})


# -- persistence and the admin API --------------------------------------------------------


def test_values_survive_a_restart(project: Any) -> None:
    running = start_server(project("envapp"))
    try:
        admin_env(running, {"KEPT": "across restarts", "DROPPED": "soon"})
        admin_env(running, {"DROPPED": None})
        running.restart()
        assert admin_env(running) == {"KEPT": "across restarts"}
        assert run(running, "query", "config:get", {"name": "KEPT"}) == "across restarts"
        running.kill()  # a crash loses nothing that was acknowledged
        running.start()
        assert run(running, "query", "config:get", {"name": "KEPT"}) == "across restarts"
    finally:
        running.stop()


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "Unauthenticated"),
        ({"Authorization": "Convex livebase|0000"}, "BadAdminKey"),
        ({"Authorization": "Convex"}, "BadAdminKey"),
        ({"Authorization": "Bearer not-a-jwt"}, None),
        ({"Authorization": "Basic YWRtaW46YWRtaW4="}, "InvalidAuthHeader"),
    ],
    ids=["missing", "wrong-key", "empty-key", "user-token", "basic"],
)
def test_admin_api_refuses_non_admins(server: RunningServer, headers: dict[str, str], code: str | None) -> None:
    name = unique()
    for response in (
        httpx.get(f"{server.url}/api/_admin/env", headers=headers),
        httpx.post(f"{server.url}/api/_admin/env", json={"changes": {name: "x"}}, headers=headers),
    ):
        assert response.status_code == 401, response.text
        if code is not None:
            assert response.json()["code"] == code
    assert name not in admin_env(server)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"changes": {}}', b'{"changes": []}', b'{"NAME": "x"}', b'{"changes": {"N": 1}}'],
)
def test_admin_api_refuses_bad_bodies(server: RunningServer, body: bytes) -> None:
    before = admin_env(server)
    response = httpx.post(f"{server.url}/api/_admin/env", content=body, headers=server.admin_headers())
    assert response.status_code == 400, response.text
    assert response.json()["code"] in ("BadJsonBody", "InvalidEnvironmentVariable")
    assert response.json()["message"]
    assert admin_env(server) == before
