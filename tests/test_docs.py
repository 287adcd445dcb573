"""The documentation, run for real.

Every fenced code block whose first line names a file (``# docs/examples/...``,
``// myapp/client.mjs``) must be that file, verbatim; every example app under
``docs/examples/`` (and ``examples/chat``) is served by a real server, and the
calls the pages show are made and their claimed results checked. Outputs that
the pages print in full are compared with the pages themselves.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from livebase import api
from livebase.values.ids import IdGenerator, decode_id
from tests.support.node import JS_DIR
from tests.support.server import REPO, RunningServer, free_port, make_project, start_server

DOCS = REPO / "docs"
EXAMPLES = DOCS / "examples"
STARTER = REPO / "livebase" / "cli" / "templates" / "starter"
PAGES = [REPO / "README.md", *sorted(DOCS.glob("*.md")), REPO / "examples" / "chat" / "README.md"]
DOC_URL = "http://127.0.0.1:3210"
REQUEST_ID = re.compile(r"\[Request ID: [0-9a-f]{16}\]")

# ```lang \n body ``` at the start of lines.
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
MARKER = re.compile(r"^(?:#|//) ((?:docs/examples|examples|myapp)/\S+)\n")


# -- the pages ------------------------------------------------------------------


def marked_blocks() -> list[tuple[str, str, str]]:
    """(page, file named on the first line, rest of the block) for every marked block."""
    blocks = []
    for page in PAGES:
        for match in FENCE.finditer(page.read_text()):
            body = match.group(2)
            marker = MARKER.match(body)
            if marker:
                blocks.append((page.relative_to(REPO).as_posix(), marker.group(1), body[marker.end():]))
    return blocks


def source_of(name: str) -> Path:
    """The file a block stands for. ``myapp/`` is the README tour's project:
    files ``livebase init`` writes, else the tour's own files."""
    if name.startswith("myapp/"):
        rel = name.removeprefix("myapp/")
        return STARTER / rel if (STARTER / rel).exists() else EXAMPLES / "tour" / rel
    return REPO / name


BLOCKS = marked_blocks()


@pytest.mark.parametrize(("page", "name", "body"), BLOCKS, ids=[f"{p}:{n}" for p, n, _ in BLOCKS])
def test_marked_block_is_the_file(page: str, name: str, body: str) -> None:
    source = source_of(name)
    assert source.is_file(), f"{page} shows {name}, but {source} does not exist"
    assert body == source.read_text(), f"{page}: the block for {name} differs from {source}"


# The example apps of the pages this module runs (other pages test their own).
TOPICS = ("functions", "database", "schemas", "values", "tour", "storage", "http", "auth", "client", "scheduling")


def test_every_example_file_is_shown() -> None:
    shown = {source_of(name).resolve() for _, name, _ in BLOCKS}
    files = [
        p
        for topic in TOPICS
        for p in (EXAMPLES / topic).rglob("*")
        if p.suffix in (".py", ".mjs") and "__pycache__" not in p.parts
    ]
    missing = [str(p.relative_to(REPO)) for p in files if p.resolve() not in shown]
    assert files and not missing, f"example files no page shows: {missing}"


def test_relative_links_resolve() -> None:
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#")[0]).resolve()
            if not path.exists():
                broken.append(f"{page.relative_to(REPO)} -> {target}")
    assert not broken, broken


def doc_output(page: str, command: str) -> Any:
    """The JSON a page prints on the line after the ``$ ...`` line containing ``command``."""
    lines = (REPO / page).read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("$ ") and command in line:
            while lines[i].endswith("\\"):  # the command goes on on the next line
                i += 1
            return json.loads(REQUEST_ID.sub("[Request ID: x]", lines[i + 1]))
    raise AssertionError(f"{page} has no command containing {command!r}")


def scrub(body: Any) -> Any:
    """A response with its request id replaced, to compare with a page."""
    return json.loads(REQUEST_ID.sub("[Request ID: x]", json.dumps(body)))


# -- calling servers --------------------------------------------------------------


def call(server: RunningServer, path: str, args: Any = None, *, admin: bool = False, **body: Any) -> dict[str, Any]:
    """POST /api/run/<path>, as the pages' curl lines do."""
    if args is not None:
        body["args"] = args
    headers = server.admin_headers() if admin else {}
    response = httpx.post(f"{server.url}/api/run/{path}", json=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def value(server: RunningServer, path: str, args: Any = None, **kw: Any) -> Any:
    body = call(server, path, args, **kw)
    assert body["status"] == "success", body
    return body["value"]


def error(server: RunningServer, path: str, args: Any = None, **kw: Any) -> dict[str, Any]:
    body = call(server, path, args, **kw)
    assert body["status"] == "error", body
    return body


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livebase.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def edit_and_wait(server: RunningServer, path: Path, text: str, expected: str, timeout: float = 20.0) -> str:
    """Write ``text`` to a file of the dev server's functions/ folder and wait
    until its output (whitespace-normalized) shows ``expected``. Writes again
    now and then, in case the file watcher was not watching yet."""
    start = len(server.log())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        path.write_text(text)
        retry_at = min(deadline, time.monotonic() + 3)
        while time.monotonic() < retry_at:
            output = " ".join(server.log()[start:].split())
            if expected in output:
                return output
            time.sleep(0.05)
    raise AssertionError(f"server output never showed {expected!r}:\n{server.log()}")


def serve(tmp: pytest.TempPathFactory, app: Path, mode: str = "dev") -> Iterator[RunningServer]:
    server = start_server(make_project(tmp.mktemp(app.name), app), mode=mode)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def functions_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from serve(tmp_path_factory, EXAMPLES / "functions")


@pytest.fixture(scope="module")
def database_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from serve(tmp_path_factory, EXAMPLES / "database")


@pytest.fixture(scope="module")
def schemas_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from serve(tmp_path_factory, EXAMPLES / "schemas")


@pytest.fixture(scope="module")
def values_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from serve(tmp_path_factory, EXAMPLES / "values")


@pytest.fixture(scope="module")
def chat_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from serve(tmp_path_factory, REPO / "examples" / "chat")


# -- functions.md -------------------------------------------------------------------


def test_queries_and_validators(functions_app: RunningServer) -> None:
    hello = call(functions_app, "greetings/hello", {"name": "Ada"})
    assert hello == doc_output("docs/functions.md", '{"name": "Ada"}')
    bad = call(functions_app, "greetings/hello", {"name": 42})
    assert scrub(bad) == doc_output("docs/functions.md", '{"name": 42}')
    # The default export, by its short and long path.
    assert value(functions_app, "greetings/default") == "Hello, world!"
    response = httpx.post(f"{functions_app.url}/api/query", json={"path": "greetings", "args": {}})
    assert response.json()["value"] == "Hello, world!"
    # Without args=, only the parameters the handler takes are accepted.
    assert "unexpected argument" in error(functions_app, "greetings/default", {"x": 1})["errorMessage"]
    # `.js` on the module is accepted.
    response = httpx.post(f"{functions_app.url}/api/query", json={"path": "greetings.js:hello", "args": {"name": "x"}})
    assert response.json()["value"] == "Hello, x!"


def test_mutation_logs_and_app_error(functions_app: RunningServer) -> None:
    body = call(functions_app, "notes/add", {"text": "buy milk", "tags": ["home"]})
    assert body["status"] == "success"
    note_id = body["value"]
    assert body["logLines"] == [f"[LOG] added note {note_id}", "[INFO] 1 tags"]
    documented = doc_output("docs/functions.md", "buy milk")
    assert documented["logLines"][1] == "[INFO] 1 tags" and documented["logLines"][0].startswith("[LOG] added note ")

    failed = error(functions_app, "notes/add", {"text": " "})
    assert failed["errorData"] == {"code": "empty_note", "message": "a note needs some text"}
    assert failed["errorData"] == doc_output("docs/functions.md", '{"text": " "}')["errorData"]
    assert "Uncaught AppError" in failed["errorMessage"]
    # The optional argument may be left out, but not be None.
    assert value(functions_app, "notes/add", {"text": "no tags"})
    assert "expected v.array(v.string()), got null" in error(functions_app, "notes/add", {"text": "x", "tags": None})["errorMessage"]


def test_action_and_internal_functions(functions_app: RunningServer) -> None:
    value(functions_app, "notes/add", {"text": "before the digest"})
    before = value(functions_app, "admin/reports/count", admin=True)
    body = call(functions_app, "summary/digest")
    assert body["status"] == "success", body
    assert "before the digest" in body["value"]
    # The log lines of the mutation it called are part of the action's.
    assert any(line.startswith("[LOG] added note ") for line in body["logLines"])
    notes = value(functions_app, "notes/list")
    assert notes[0]["text"] == f"notes so far: {before}"

    # Internal functions: invisible to clients, callable with the admin key.
    hidden = error(functions_app, "notes/clear")
    assert hidden["errorMessage"].endswith("Could not find public function for 'notes:clear'.")
    hidden = error(functions_app, "admin/reports/count")
    assert hidden["errorMessage"].endswith("Could not find public function for 'admin/reports:count'.")
    assert value(functions_app, "admin/reports/count", admin=True) == before + 1
    assert value(functions_app, "notes/clear", admin=True) == before + 1
    assert value(functions_app, "notes/list") == []


def test_api_references_are_paths() -> None:
    assert str(api.notes.add) == "notes:add"
    assert str(api.admin.reports.count) == "admin/reports:count"


def test_uncaught_errors_in_dev(functions_app: RunningServer) -> None:
    failed = error(functions_app, "maths/inverse", {"n": 0})
    assert scrub(failed) == doc_output("docs/functions.md", "maths/inverse")


def test_determinism_now(functions_app: RunningServer) -> None:
    reminder = value(functions_app, "reminders/add", {"text": "stretch", "minutes": 30})
    (doc,) = [r for r in value(functions_app, "reminders/list") if r["_id"] == reminder]
    # ctx.now() is fixed at the start of the call, the moment _creationTime records.
    assert abs(doc["due"] - doc["_creationTime"] - 30 * 60_000) < 1000


@pytest.fixture(scope="module")
def functions_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from serve(tmp_path_factory, EXAMPLES / "functions", mode="serve")


def test_serve_redacts_unexpected_errors(functions_serve: RunningServer) -> None:
    failed = error(functions_serve, "maths/inverse", {"n": 0})
    assert REQUEST_ID.sub("", failed["errorMessage"]) == " Server Error"
    # AppError data and Livebase's own messages are still sent.
    assert error(functions_serve, "notes/add", {"text": ""})["errorData"]["code"] == "empty_note"
    assert "ArgumentValidationError" in error(functions_serve, "greetings/hello", {"name": 1})["errorMessage"]


EXTRA_APP = {
    "checks.py": '''
from livebase import AppError, action, mutation, query, v
from ._helpers import shout


@query(args={}, returns=v.string())
def wrong_return(ctx):
    return 1


@query(args={})
def a_set(ctx):
    return {1, 2}


@query(args={})
def helper(ctx):
    return shout("hi")


@query(args={})
def bad_range(ctx):
    return ctx.db.query("tasks").with_index("by_owner", lambda q: q.gt("priority", 2)).collect()


@query(args={})
def python_and(ctx):
    return ctx.db.query("tasks").filter(lambda q: q.eq(q.field("a"), 1) and q.eq(q.field("b"), 2)).collect()


@query(args={})
def twice(ctx):
    tasks = ctx.db.query("tasks")
    tasks.collect()
    return tasks.collect()


@query(args={})
def missing_table(ctx):
    return ctx.db.query("nothing_here").collect()


@query(args={})
def chatty(ctx):
    print("x" * 5000)
    for i in range(300):
        print(i)


@query(args={})
def refuses(ctx):
    raise AppError({"code": "nope"})


@action(args={})
async def catches(ctx):
    try:
        await ctx.run_query("checks:refuses")
    except AppError as e:
        return ["caught", e.data]


@query(args={})
def writes(ctx):
    return ctx.db.insert("tasks", {"owner": "q", "priority": 1})


@mutation(args={})
def dice(ctx):
    return ctx.random.random()


@mutation(args={"shape": v.any()})
def add_shape(ctx, shape):
    return ctx.db.insert("shapes", shape)


@mutation(args={})
def too_many_writes(ctx):
    for _ in range(16_001):
        ctx.db.insert("rows", {})
''',
    "_helpers.py": '''
from livebase import query


def shout(text):
    return text.upper()


@query(args={})
def hidden(ctx):
    return "never served: modules starting with _ are not loaded"
''',
    "schema.py": '''
from livebase import define_schema, define_table, v

schema = define_schema({
    "tasks": define_table({"owner": v.string(), "priority": v.number()}).index("by_owner", ["owner", "priority"]),
    "shapes": define_table(v.union(
        v.object({"kind": v.literal("circle"), "r": v.number()}),
        v.object({"kind": v.literal("square"), "side": v.number()}),
    )),
})
''',
}


@pytest.fixture(scope="module")
def extra_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Small claims of the pages that the example apps don't show."""
    project = tmp_path_factory.mktemp("extra")
    (project / "functions").mkdir()
    for name, text in EXTRA_APP.items():
        (project / "functions" / name).write_text(text.lstrip())
    server = start_server(project)
    yield server
    server.stop()


def test_small_claims(extra_app: RunningServer) -> None:
    assert "ReturnsValidationError in checks:wrong_return" in error(extra_app, "checks/wrong_return")["errorMessage"]
    assert "set is not a supported value type" in error(extra_app, "checks/a_set")["errorMessage"]
    assert value(extra_app, "checks/helper") == "HI"
    assert "Could not find public function for '_helpers:hidden'" in error(extra_app, "_helpers/hidden")["errorMessage"]
    message = error(extra_app, "checks/bad_range")["errorMessage"]
    assert 'index "by_owner"' in message and "owner, priority" in message and "q.gt('priority')" in message
    assert "q.and_(), q.or_() and q.not_()" in error(extra_app, "checks/python_and")["errorMessage"]
    assert "can only be run once" in error(extra_app, "checks/twice")["errorMessage"]
    assert value(extra_app, "checks/missing_table") == []
    lines = call(extra_app, "checks/chatty")["logLines"]
    assert len(lines) == 257 and lines[1:256] == [f"[LOG] {i}" for i in range(255)]
    assert lines[0].endswith("(truncated)") and len(lines[0].encode()) <= 4096
    assert "Log overflow" in lines[256]
    assert "TooManyWrites" in error(extra_app, "checks/too_many_writes")["errorMessage"]
    assert value(extra_app, "checks/catches") == ["caught", {"code": "nope"}]
    # A table validator may be any validator, here a union of objects.
    assert value(extra_app, "checks/add_shape", {"shape": {"kind": "circle", "r": 1}})
    assert value(extra_app, "checks/add_shape", {"shape": {"kind": "square", "side": 2}})
    assert "SchemaValidationError" in error(extra_app, "checks/add_shape", {"shape": {"kind": "circle", "side": 2}})["errorMessage"]


# -- database.md ----------------------------------------------------------------------


def titles(docs: list[dict[str, Any]]) -> list[str]:
    return [d["title"] for d in docs]


def test_documents_and_writes(database_app: RunningServer) -> None:
    task = value(database_app, "tasks/add", {"title": "write docs", "owner": "ada", "priority": 2})
    assert decode_id(task) is not None
    doc = value(database_app, "tasks/get", {"id": task})
    assert set(doc) == {"_id", "_creationTime", "title", "owner", "priority", "done"}
    assert isinstance(doc["_creationTime"], float) and doc["_creationTime"] > 1.6e12
    done = value(database_app, "tasks/complete", {"id": task})
    assert done == {**doc, "done": True}

    value(database_app, "tasks/set_due", {"id": task, "due": 1700000000000})
    assert value(database_app, "tasks/get", {"id": task})["due"] == 1700000000000
    value(database_app, "tasks/set_due", {"id": task, "due": None})
    assert "due" not in value(database_app, "tasks/get", {"id": task})

    value(database_app, "tasks/reset", {"id": task, "title": "again", "owner": "bob"})
    reset = value(database_app, "tasks/get", {"id": task})
    assert reset == {"_id": task, "_creationTime": doc["_creationTime"], "title": "again", "owner": "bob", "priority": 0, "done": False}

    value(database_app, "tasks/remove", {"id": task})
    assert value(database_app, "tasks/get", {"id": task}) is None
    assert "NonexistentDocument" in error(database_app, "tasks/remove", {"id": task})["errorMessage"]
    # An id of another table is refused by v.id("tasks").
    counter_id = value(database_app, "counters/increment", {"name": "ids"})
    assert "expected v.id(\"tasks\")" in error(database_app, "tasks/get", {"id": counter_id})["errorMessage"]


@pytest.fixture(scope="module")
def four_tasks(database_app: RunningServer) -> dict[str, str]:
    """The data set of database.md."""
    ids = {}
    for title, owner, priority in [("write docs", "ada", 2), ("fix bug", "ada", 5), ("review", "bob", 3), ("triage", "", 1)]:
        ids[title] = value(database_app, "tasks/add", {"title": title, "owner": owner, "priority": priority})
    value(database_app, "tasks/complete", {"id": ids["write docs"]})
    return ids


def test_index_ranges(database_app: RunningServer, four_tasks: dict[str, str]) -> None:
    assert titles(value(database_app, "ranges/important", {"owner": "ada", "min_priority": 2})) == ["fix bug", "write docs"]
    assert titles(value(database_app, "ranges/important", {"owner": "ada", "min_priority": 3})) == ["fix bug"]
    assert value(database_app, "ranges/by_title", {"title": "review"})["_id"] == four_tasks["review"]
    assert value(database_app, "ranges/by_title", {"title": "nothing"}) is None
    created = value(database_app, "ranges/created_since", {"since": 0})
    assert [t["_creationTime"] for t in created] == sorted(t["_creationTime"] for t in created)
    since = value(database_app, "tasks/get", {"id": four_tasks["review"]})["_creationTime"]
    assert titles(value(database_app, "ranges/created_since", {"since": since})) [:1] == ["triage"]
    assert value(database_app, "ranges/created_since", {"since": 9e15}) == []


def test_filters(database_app: RunningServer, four_tasks: dict[str, str]) -> None:
    assert titles(value(database_app, "filters/unfinished", {"owner": "ada"})) == ["fix bug"]
    assert sorted(titles(value(database_app, "filters/needs_attention"))) == ["fix bug", "review", "triage"]


def test_unique_and_first(database_app: RunningServer, four_tasks: dict[str, str]) -> None:
    duplicate = value(database_app, "tasks/add", {"title": "dup", "owner": "x", "priority": 0})
    assert value(database_app, "ranges/newest")["_id"] == duplicate
    value(database_app, "tasks/add", {"title": "dup", "owner": "y", "priority": 0})
    assert "UniqueQueryMultipleResults" in error(database_app, "ranges/by_title", {"title": "dup"})["errorMessage"]


def test_pagination(database_app: RunningServer, four_tasks: dict[str, str]) -> None:
    everything = value(database_app, "ranges/created_since", {"since": 0})
    seen, cursor, pages = [], None, 0
    while True:
        result = value(database_app, "pages/tasks", {"paginationOpts": {"numItems": 2, "cursor": cursor}})
        assert set(result) >= {"page", "isDone", "continueCursor"}
        seen += result["page"]
        pages += 1
        if result["isDone"]:
            break
        cursor = result["continueCursor"]
        assert pages < 50
    assert [d["_id"] for d in seen] == [d["_id"] for d in everything]
    assert "InvalidCursor" in error(database_app, "pages/tasks", {"paginationOpts": {"numItems": 2, "cursor": "nonsense"}})["errorMessage"]


def test_concurrent_increments_are_serializable(database_app: RunningServer) -> None:
    async def burst() -> list[Any]:
        async with httpx.AsyncClient(timeout=60) as client:
            responses = await asyncio.gather(*[
                client.post(f"{database_app.url}/api/mutation", json={"path": "counters:increment", "args": {"name": "hits"}})
                for _ in range(50)
            ])
        return [r.json()["value"] for r in responses]

    assert sorted(asyncio.run(burst())) == list(range(1, 51))
    assert value(database_app, "counters/get", {"name": "hits"}) == 50


# -- schemas.md -------------------------------------------------------------------------


def test_validators_and_int64(schemas_app: RunningServer) -> None:
    ada = value(schemas_app, "users/create", {"name": "Ada", "email": "ada@example.com"})
    user = value(schemas_app, "users/get", {"id": ada})
    assert user["karma"] == "0"  # Int64 in the clean json format: a decimal string
    encoded = value(schemas_app, "users/get", {"id": ada}, format="convex_encoded_json")
    assert encoded["karma"] == {"$integer": "AAAAAAAAAAA="}
    assert value(schemas_app, "users/add_karma", {"id": ada, "amount": 5}) == "5"
    assert value(schemas_app, "users/add_karma", {"id": ada, "amount": 1}, format="convex_encoded_json") == {"$integer": "BgAAAAAAAAA="}

    refused = error(schemas_app, "users/set_role", {"id": ada, "role": "owner"})
    documented = doc_output("docs/schemas.md", "users/set_role")["errorMessage"]
    assert scrub(refused)["errorMessage"] == documented
    assert value(schemas_app, "users/get", {"id": ada})["role"] == "member"
    value(schemas_app, "users/set_role", {"id": ada, "role": "admin"})

    # v.optional: absent is fine, None is not.
    bob = value(schemas_app, "users/create", {"name": "Bob"})
    assert "email" not in value(schemas_app, "users/get", {"id": bob})
    assert "expected v.string(), got null" in error(schemas_app, "users/create", {"name": "Cy", "email": None})["errorMessage"]

    post = value(schemas_app, "posts/create", {"author": ada, "title": "Hi", "tags": ["a"]})
    assert value(schemas_app, "posts/get", {"id": post})["meta"] == {"draft": True}
    wrong = error(schemas_app, "posts/create", {"author": post, "title": "x", "tags": []})["errorMessage"]
    assert 'at args.author: expected v.id("users"), got an id of another table' in wrong
    # A table the schema doesn't list takes anything.
    assert value(schemas_app, "users/log_event", {"kind": "signup", "data": {"plan": "free", "n": [1, 2.5]}})


def test_schema_push(tmp_path: Path) -> None:
    project = make_project(tmp_path / "schemas", EXAMPLES / "schemas")
    schema_file = project / "functions" / "schema.py"
    original = schema_file.read_text()
    server = start_server(project)
    try:
        ada = value(server, "users/create", {"name": "Ada", "email": "ada@example.com"})
        bob = value(server, "users/create", {"name": "Bob"})
        post = value(server, "posts/create", {"author": ada, "title": "Hi", "tags": []})

        with_index = original.replace('.index("by_email", ["email"])', '.index("by_email", ["email"]).index("by_name", ["name"])')
        assert with_index != original
        edit_and_wait(server, schema_file, with_index, "Reloaded 7 functions + index users.by_name")

        required = with_index.replace('"email": v.optional(v.string())', '"email": v.string()')
        log = edit_and_wait(server, schema_file, required, "Reload failed")
        assert (
            f"Reload failed, still serving the previous functions: Schema validation failed: document {bob} in "
            "table 'users' does not match the new schema: object is missing the required field 'email' (v.string())"
        ) in log
        # The previous schema is still in force.
        assert value(server, "users/create", {"name": "Cy"})

        without_posts = original.split('    "posts": define_table(')[0] + "})\n"
        edit_and_wait(server, schema_file, without_posts, "- index users.by_name")
        assert value(server, "posts/get", {"id": post})["title"] == "Hi"
    finally:
        server.stop()

    # At startup the same error stops the server.
    schema_file.write_text(required)
    started = cli("dev", "--dir", str(project), "--port", str(free_port()), "--site-port", str(free_port()))
    assert started.returncode == 1
    assert "Schema validation failed" in started.stderr + started.stdout

    # schema_validation=False: tables and indexes, no document checks.
    schema_file.write_text(required.replace("\n})\n", "\n}, schema_validation=False)\n"))
    server = start_server(project)
    try:
        assert value(server, "users/create", {"name": "Dee"})
    finally:
        server.stop()


# -- values.md ---------------------------------------------------------------------------


def test_values_on_the_wire(values_app: RunningServer) -> None:
    clean = call(values_app, "values/samples")
    assert clean == doc_output("docs/values.md", "values/samples -d '{}'")
    encoded = call(values_app, "values/samples", format="convex_encoded_json")
    assert encoded == doc_output("docs/values.md", '"convex_encoded_json"}')
    too_big = call(values_app, "values/too_big")
    assert scrub(too_big) == doc_output("docs/values.md", "values/too_big")
    args = {"value": {"i": {"$integer": "BQAAAAAAAAA="}, "b": {"$bytes": "AAE="}, "n": 1.5, "w": 2.0}}
    described = call(values_app, "values/describe", args, format="convex_encoded_json")
    assert described == doc_output("docs/values.md", "values/describe")
    # In the json format, strings stay strings and every number is a number.
    assert value(values_app, "values/describe", {"value": {"b": "AAE=", "n": 1, "f": 0.5}}) == {"b": "str", "n": "int", "f": "float"}


def test_value_limits(values_app: RunningServer) -> None:
    assert "more than the limit of 8192" in error(values_app, "values/describe", {"value": [0] * 8193})["errorMessage"]
    deep: Any = 0
    for _ in range(17):
        deep = [deep]
    assert "nested more than 16 levels" in error(values_app, "values/describe", {"value": deep})["errorMessage"]
    assert "must not start with '$'" in error(values_app, "values/describe", {"value": {"$x": 1}})["errorMessage"]


# -- http-api.md -----------------------------------------------------------------------------


def test_http_endpoints(functions_app: RunningServer) -> None:
    url = functions_app.url
    body = {"path": "greetings:hello", "args": {"name": "Ada"}, "format": "json"}
    response = httpx.post(f"{url}/api/query", json=body)
    assert response.json() == doc_output("docs/http-api.md", "/api/query -H")
    assert response.headers["convex-request-id"]
    assert httpx.post(f"{url}/api/query", json={**body, "args": [{"name": "Ada"}]}).json()["value"] == "Hello, Ada!"
    wrong_kind = httpx.post(f"{url}/api/mutation", json={"path": "notes:list", "args": {}}).json()
    assert wrong_kind["errorMessage"].endswith("Trying to execute notes:list as Mutation, but it is defined as Query.")
    assert httpx.post(f"{url}/api/function", json={"path": "greetings:hello", "args": {"name": "B"}}).json()["value"] == "Hello, B!"
    got = httpx.get(f"{url}/api/query", params={"path": "greetings:hello", "args": json.dumps({"name": "C"})})
    assert got.json()["value"] == "Hello, C!"

    batch = httpx.post(f"{url}/api/query_batch", json={"queries": [
        {"path": "greetings:hello", "args": {"name": "D"}},
        {"path": "notes:nope", "args": {}},
    ]}).json()["results"]
    assert batch[0]["value"] == "Hello, D!"
    assert batch[1]["errorMessage"].endswith("Could not find public function for 'notes:nope'.")

    ts = httpx.post(f"{url}/api/query_ts").json()["ts"]
    at = httpx.post(f"{url}/api/query_at_ts", json={"path": "greetings:hello", "args": {"name": "E"}, "ts": ts})
    assert at.json()["value"] == "Hello, E!"
    assert httpx.get(f"{url}/version").text.strip()
    assert httpx.get(f"{url}/").status_code == 200

    # Request ids in the body and the header agree.
    failed = httpx.post(f"{url}/api/query", json={"path": "maths:inverse", "args": {"n": 0}})
    assert f"[Request ID: {failed.headers['convex-request-id']}]" in failed.json()["errorMessage"]


@pytest.mark.parametrize(
    ("method", "path", "content", "headers", "status", "code"),
    [
        ("POST", "/api/query", b"not json", {}, 400, "BadJsonBody"),
        ("POST", "/api/query", b"[1]", {}, 400, "BadJsonBody"),
        ("POST", "/api/query", b'{"args": {}}', {}, 400, "BadConvexFunctionIdentifier"),
        ("POST", "/api/query", b'{"path": "greetings:hello", "format": "xml"}', {}, 400, "BadFormat"),
        ("POST", "/api/query", b'{"path": "greetings:hello", "args": 5}', {}, 400, "InvalidArgs"),
        ("POST", "/api/query", b'{"path": "greetings"}', {"Authorization": "Convex wrong"}, 401, "BadAdminKey"),
        ("GET", "/api/nothing", b"", {}, 404, "NotFound"),
        ("GET", "/api/mutation", b"", {}, 405, "MethodNotAllowed"),
        ("POST", "/api/query", b" " * ((16 << 20) + 4096), {}, 413, "PayloadTooLarge"),
    ],
)
def test_request_errors(
    functions_app: RunningServer, method: str, path: str, content: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    response = httpx.request(method, functions_app.url + path, content=content, headers=headers, timeout=30)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert response.json()["message"]


def test_documented_bad_format(functions_app: RunningServer) -> None:
    response = httpx.post(f"{functions_app.url}/api/query", json={"path": "greetings:hello", "format": "xml"})
    assert response.json() == doc_output("docs/http-api.md", '"format": "xml"')


def test_cors_preflight(functions_app: RunningServer) -> None:
    response = httpx.options(
        f"{functions_app.url}/api/query",
        headers={"Origin": "http://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://app.example"
    assert response.headers["access-control-allow-credentials"] == "true"


# -- cli.md --------------------------------------------------------------------------------------


def test_cli_init(tmp_path: Path) -> None:
    made = cli("init", str(tmp_path / "myapp"))
    assert made.returncode == 0, made.stderr
    assert "Created a Livebase project" in made.stderr + made.stdout
    for name in ("functions/schema.py", "functions/messages.py", "README.md", ".gitignore"):
        assert (tmp_path / "myapp" / name).is_file(), name
    again = cli("init", str(tmp_path / "myapp"))
    assert again.returncode == 1
    assert "already exists and is not empty" in again.stderr


def test_cli_run(tmp_path: Path, functions_app: RunningServer) -> None:
    # No server for this project: run in-process, on its database.
    project = make_project(tmp_path / "offline", EXAMPLES / "functions")
    ran = cli("run", "greetings:hello", '{"name": "Ada"}', "--dir", str(project))
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == "Hello, Ada!"
    assert cli("run", "notes:add", '{"text": "offline"}', "--dir", str(project)).returncode == 0
    assert json.loads(cli("run", "notes:clear", "--dir", str(project)).stdout) == 1
    failed = cli("run", "maths:inverse", '{"n": 0}', "--dir", str(project))
    assert failed.returncode == 1
    assert "ZeroDivisionError" in failed.stderr

    # A running server for the project: the call goes there, with its admin key.
    value(functions_app, "notes/add", {"text": "one"})
    value(functions_app, "notes/add", {"text": "two"})
    count = value(functions_app, "admin/reports/count", admin=True)
    ran = cli("run", "notes:clear", "--dir", str(functions_app.project_dir))
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == count
    assert value(functions_app, "notes/list") == []

    # --url needs the admin key for internal functions.
    hidden = cli("run", "admin/reports:count", "--url", functions_app.url, cwd=tmp_path)
    assert hidden.returncode == 1
    shown = cli("run", "admin/reports:count", "--url", functions_app.url, cwd=tmp_path,
                env={"LIVEBASE_ADMIN_KEY": functions_app.admin_key})
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == 0


# -- README.md: the tour --------------------------------------------------------------------------


def node_available() -> bool:
    return shutil.which("node") is not None and (JS_DIR / "node_modules" / "convex" / "package.json").exists()


def test_readme_tour(tmp_path: Path) -> None:
    made = cli("init", "myapp", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    project = tmp_path / "myapp"
    server = start_server(project)
    try:
        sent = value(server, "messages/send", {"author": "ada", "body": "hello"})
        listed = value(server, "messages/list")
        assert [(m["_id"], m["author"], m["body"]) for m in listed] == [(sent, "ada", "hello")]

        stats = (EXAMPLES / "tour" / "functions" / "stats.py").read_text()
        edit_and_wait(server, project / "functions" / "stats.py", stats, "Reloaded 3 functions")
        assert call(server, "stats/count") == doc_output("README.md", "stats/count")

        script = (EXAMPLES / "tour" / "client.mjs").read_text().replace(DOC_URL, server.url)
        if node_available():
            ran = subprocess.run(
                ["node", "--input-type=module"], input=script, cwd=JS_DIR, capture_output=True, text=True, timeout=60
            )
            assert ran.returncode == 0, ran.stderr
            assert ran.stdout.splitlines()[0] == "2"
            assert "hello from JavaScript" in ran.stdout
        elif os.environ.get("LIVEBASE_REQUIRE_NODE") == "1":
            pytest.fail("node or tests/js/node_modules is missing")
        else:  # do what the script does, so the next steps see the same data
            value(server, "messages/send", {"author": "node", "body": "hello from JavaScript"})

        script = (EXAMPLES / "tour" / "client.py").read_text().replace(DOC_URL, server.url)
        ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.splitlines() == ["python hello from Python", "node hello from JavaScript", "ada hello"]

        counted = cli("run", "stats:count", "--dir", "myapp", cwd=tmp_path)
        assert counted.stdout.strip() == "3", counted.stderr
        sent = cli("run", "messages:send", '{"author": "cli", "body": "hi"}', "--dir", "myapp", cwd=tmp_path)
        assert decode_id(json.loads(sent.stdout)) is not None
    finally:
        server.stop()


# -- examples/chat ------------------------------------------------------------------------------------


def test_chat(chat_app: RunningServer) -> None:
    seeded = cli("run", "seed", "--dir", str(chat_app.project_dir))
    assert seeded.returncode == 0, seeded.stderr
    general = json.loads(seeded.stdout)
    assert json.loads(cli("run", "seed", "--dir", str(chat_app.project_dir)).stdout) == general  # only once
    assert "Could not find public function for 'seed:default'" in error(chat_app, "seed/default")["errorMessage"]
    assert [c["name"] for c in value(chat_app, "channels/list")] == ["general"]
    welcome = value(chat_app, "messages/list", {"channel": general})
    assert [(m["author"], m["body"]) for m in welcome] == [("livebase", "Welcome to #general!")]

    random = value(chat_app, "channels/create", {"name": "random"})
    taken = error(chat_app, "channels/create", {"name": "Random "})
    assert taken["errorData"] == {"code": "channel_exists", "channel": random}
    assert [c["name"] for c in value(chat_app, "channels/list")] == ["general", "random"]

    sent = value(chat_app, "messages/send", {"channel": random, "author": "ada", "body": "hello"})
    listed = value(chat_app, "messages/list", {"channel": random})
    assert [(m["_id"], m["channel"], m["author"], m["body"]) for m in listed] == [(sent, random, "ada", "hello")]

    assert error(chat_app, "messages/send", {"channel": random, "author": " ", "body": "x"})["errorData"]["code"] == "invalid_author"
    assert error(chat_app, "messages/send", {"channel": random, "author": "a", "body": ""})["errorData"]["code"] == "invalid_body"
    assert error(chat_app, "messages/send", {"channel": random, "author": "a", "body": "x" * 2001})["errorData"]["code"] == "invalid_body"
    missing = IdGenerator().new_id(decode_id(random).table_number)
    assert error(chat_app, "messages/send", {"channel": missing, "author": "a", "body": "x"})["errorData"] == {
        "code": "channel_not_found", "channel": missing,
    }
    assert "ArgumentValidationError" in error(chat_app, "messages/send", {"channel": sent, "author": "a", "body": "x"})["errorMessage"]


def test_chat_pagination(chat_app: RunningServer) -> None:
    channel = value(chat_app, "channels/create", {"name": "busy"})
    bodies = [f"message {i}" for i in range(7)]
    for body in bodies:
        value(chat_app, "messages/send", {"channel": channel, "author": "bot", "body": body})
    assert [m["body"] for m in value(chat_app, "messages/list", {"channel": channel})] == bodies[::-1]
    seen, cursor = [], None
    for _ in range(10):
        page = value(chat_app, "messages/paginated", {"channel": channel, "paginationOpts": {"numItems": 3, "cursor": cursor}})
        seen += [m["body"] for m in page["page"]]
        if page["isDone"]:
            break
        cursor = page["continueCursor"]
    assert seen == bodies[::-1]
    # A cursor belongs to its query: another channel's query refuses it.
    other = value(chat_app, "channels/create", {"name": "quiet"})
    first = value(chat_app, "messages/paginated", {"channel": channel, "paginationOpts": {"numItems": 1, "cursor": None}})
    refused = error(chat_app, "messages/paginated", {"channel": other, "paginationOpts": {"numItems": 1, "cursor": first["continueCursor"]}})
    assert "InvalidCursor" in refused["errorMessage"]


def test_chat_concurrent_creates_make_one_channel(chat_app: RunningServer) -> None:
    async def burst() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=60) as client:
            responses = await asyncio.gather(*[
                client.post(f"{chat_app.url}/api/mutation", json={"path": "channels:create", "args": {"name": "race"}})
                for _ in range(10)
            ])
        return [r.json() for r in responses]

    results = asyncio.run(burst())
    created = [r["value"] for r in results if r["status"] == "success"]
    assert len(created) == 1, results
    assert all(r["errorData"] == {"code": "channel_exists", "channel": created[0]} for r in results if r["status"] == "error")


# -- scripts/dev-example.sh ------------------------------------------------------------------------

# Stands in for Python: records how it was called, makes a fake venv, and
# answers "not ready" to the script's readiness probe (stdin script).
FAKE_PYTHON = r"""#!/usr/bin/env bash
echo "python $*" >> "$CALLS"
case "$1" in
  --version) echo "Python 3.11.9" ;;
  -m)
    if [ "$2" = venv ]; then
      mkdir -p "$3/bin"
      cp "$0" "$3/bin/python"
      printf '#!/usr/bin/env bash\necho "livebase $* (in $PWD)" >> "$CALLS"\n' > "$3/bin/livebase"
      chmod +x "$3/bin/livebase"
    fi ;;
  -) exit 1 ;;
esac
exit 0
"""


def test_dev_example_script(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "dev-example.sh", repo / "scripts" / "dev-example.sh")
    (repo / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    python = tmp_path / "fake-python"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    calls = tmp_path / "calls.txt"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def run(*args: str) -> list[str]:
        calls.write_text("")
        done = subprocess.run(
            ["bash", str(repo / "scripts" / "dev-example.sh"), *args],
            cwd=elsewhere,
            env={**os.environ, "PYTHON": str(python), "CALLS": str(calls)},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        return calls.read_text().splitlines()

    pip = "python -m pip install --quiet --disable-pip-version-check -e ."
    serve = f"livebase dev --dir examples/chat --port 4000 (in {repo})"
    # First run: creates .venv, installs, serves with the extra arguments.
    first = run("--port", "4000")
    assert "python -m venv .venv" in first and pip in first and first[-1] == serve
    # Next run: nothing to install.
    assert run("--port", "4000") == [serve]
    # pyproject.toml changed: install again.
    with (repo / "pyproject.toml").open("a") as f:
        f.write("# changed\n")
    again = run("--port", "4000")
    assert "python -m venv .venv" not in again and pip in again and again[-1] == serve


# -- known bugs: what a user would expect, failing today ------------------------------------------


def test_write_in_query_says_use_a_mutation(extra_app: RunningServer) -> None:
    assert "use a mutation" in error(extra_app, "checks/writes")["errorMessage"]


def test_ctx_random_differs_between_calls(extra_app: RunningServer) -> None:
    rolls = [value(extra_app, "checks/dice") for _ in range(3)]
    assert len(set(rolls)) == 3, rolls


def test_app_error_message_shows_json(extra_app: RunningServer) -> None:
    message = error(extra_app, "checks/refuses")["errorMessage"]
    assert '"code"' in message and "'code'" not in message


def test_cli_run_reports_load_errors(tmp_path: Path) -> None:
    (tmp_path / "functions").mkdir()
    (tmp_path / "functions" / "bad.py").write_text("def oops(:\n")
    ran = cli("run", "bad:oops", "--dir", str(tmp_path))
    assert ran.returncode == 1
    assert "Error: failed to import functions/bad.py" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_second_server_on_one_database_is_refused(tmp_path: Path) -> None:
    project = make_project(tmp_path / "app", EXAMPLES / "values")
    first = start_server(project)
    second = None
    try:
        with pytest.raises(RuntimeError):
            second = start_server(project)
    finally:
        if second is not None:
            second.stop()
        first.stop()
