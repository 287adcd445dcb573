"""HTTP actions (functions/http.py) on the site port of a real server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from livebase import HttpRouter
from tests.support.http import assert_request_error, value
from tests.support.server import RunningServer, make_project, start_server

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    project = make_project(tmp_path_factory.mktemp("httpapp"), "httpapp")
    s = start_server(project)
    yield s
    s.stop()


def site(server: RunningServer, path: str) -> str:
    return server.site_url + path


def events(server: RunningServer) -> list:
    return value(server, "query", "events:list", fmt=None)


def test_webhook_writes_through_a_mutation(server: RunningServer) -> None:
    before = len(events(server))
    r = httpx.post(
        site(server, "/webhook"), json={"amount": 12, "ok": True}, headers={"X-Source": "stripe"}
    )
    assert r.status_code == 201, r.text
    assert isinstance(r.json()["id"], str)
    after = events(server)
    assert len(after) == before + 1
    assert after[-1] == {"source": "stripe", "payload": {"amount": 12, "ok": True}}
    # And the HTTP action reads it back through ctx.run_query.
    listed = httpx.get(site(server, "/events")).json()
    assert listed[-1] == after[-1]


def test_request_json_and_json_return(server: RunningServer) -> None:
    r = httpx.post(site(server, "/echo?x=1&y=two"), json={"nested": [1, 2, {"a": None}]})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {
        "got": {"nested": [1, 2, {"a": None}]},
        "query": {"x": "1", "y": "two"},
        "method": "POST",
    }


def test_exact_path_beats_prefix_and_longest_prefix_wins(server: RunningServer) -> None:
    assert httpx.get(site(server, "/files/a/b.txt")).text == "prefix /files/ got /files/a/b.txt"
    assert httpx.get(site(server, "/files/")).text == "prefix /files/ got /files/"
    assert (
        httpx.get(site(server, "/files/special/x")).text
        == "prefix /files/special/ got /files/special/x"
    )
    assert httpx.get(site(server, "/files/exact")).text == "exact /files/exact"
    # A prefix matches only with its trailing slash.
    assert httpx.get(site(server, "/files")).status_code == 404
    assert httpx.get(site(server, "/files/exactly")).text == "prefix /files/ got /files/exactly"


def test_no_route_is_a_json_404(server: RunningServer) -> None:
    body = assert_request_error(httpx.get(site(server, "/nowhere")), 404)
    assert body["code"] == "NoMatchingRoute"
    assert "GET /nowhere" in body["message"]
    # Right path, wrong method: still 404, naming the methods that exist.
    body = assert_request_error(httpx.get(site(server, "/webhook")), 404)
    assert "OPTIONS, POST" in body["message"]
    assert (
        assert_request_error(httpx.request("TRACE", site(server, "/webhook")), 405)["code"]
        == "MethodNotAllowed"
    )


def test_head_uses_the_get_route_without_body(server: RunningServer) -> None:
    get = httpx.get(site(server, "/files/x"))
    head = httpx.head(site(server, "/files/x"))
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"] == str(len(get.content))
    assert httpx.head(site(server, "/nowhere")).status_code == 404


def test_options_route_for_cors(server: RunningServer) -> None:
    r = httpx.options(site(server, "/webhook"), headers={"Origin": "https://example.com"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["access-control-allow-methods"] == "POST"


def test_plain_returns(server: RunningServer) -> None:
    r = httpx.get(site(server, "/bytes"))
    assert (r.status_code, r.content, r.headers["content-type"]) == (
        200,
        b"\x00\x01\x02",
        "application/octet-stream",
    )
    r = httpx.delete(site(server, "/nothing"))
    assert (r.status_code, r.content) == (204, b"")
    r = httpx.get(site(server, "/log"))
    assert r.text == "logged" and r.headers["content-type"].startswith("text/plain")
    r = httpx.get(site(server, "/stream"))
    assert r.text == "part0;part1;part2;"


def test_bad_return_value_is_a_500(server: RunningServer) -> None:
    r = httpx.get(site(server, "/bad-return"))
    assert r.status_code == 500
    assert "returned int" in r.json()["message"]


def test_uncaught_exception_in_dev_shows_the_error_not_a_traceback(server: RunningServer) -> None:
    r = httpx.get(site(server, "/boom"))
    assert r.status_code == 500
    body = r.json()
    assert body["code"] == "HttpActionError"
    assert "Uncaught ValueError: kaboom: secret detail" in body["message"]
    assert body["message"].startswith("[Request ID: ")
    assert "Traceback" not in r.text


def test_app_error_data_reaches_the_caller(server: RunningServer) -> None:
    r = httpx.get(site(server, "/app-error"))
    assert r.status_code == 500
    assert r.json()["data"] == {"code": "not_allowed"}


def test_logs_of_http_actions_go_to_the_function_log(server: RunningServer) -> None:
    httpx.get(site(server, "/log")).raise_for_status()
    httpx.get(site(server, "/stream")).raise_for_status()
    r = httpx.get(server.url + "/api/_admin/logs", headers=server.admin_headers())
    entries = [e for e in r.json()["entries"] if e["kind"] == "httpAction"]
    log_entry = [e for e in entries if e["path"] == "GET /log"][-1]
    assert log_entry["status"] == "success"
    assert "[LOG] printed from an HTTP action" in log_entry["logLines"]
    assert "[WARN] warned from an HTTP action" in log_entry["logLines"]
    stream_entry = [e for e in entries if e["path"] == "GET /stream"][-1]
    assert stream_entry["logLines"] == [f"[LOG] streaming part {i}" for i in range(3)]
    # A mutation called from an HTTP action contributes its lines too.
    httpx.post(site(server, "/webhook"), json={}, headers={"X-Source": "logs"}).raise_for_status()
    entries = httpx.get(server.url + "/api/_admin/logs", headers=server.admin_headers()).json()[
        "entries"
    ]
    hook = [e for e in entries if e["path"] == "POST /webhook"][-1]
    assert "[LOG] recording event from logs" in hook["logLines"]
    failed = [e for e in entries if e["path"] == "GET /boom"]
    assert failed and failed[-1]["status"] == "failure" and "kaboom" in failed[-1]["error"]


def test_bearer_token_is_refused_without_auth_providers(server: RunningServer) -> None:
    before = len(events(server))
    r = httpx.post(
        site(server, "/webhook"), json={"x": 1}, headers={"Authorization": "Bearer eyJhbGciOi.x.y"}
    )
    body = assert_request_error(r, 401)
    assert body["code"] == "NoAuthProvider"
    # The handler did not run.
    assert len(events(server)) == before
    # Anonymous callers are fine.
    assert httpx.get(site(server, "/whoami")).json() == {"subject": None}
    # A malformed Authorization header is refused too.
    assert assert_request_error(
        httpx.get(site(server, "/whoami"), headers={"Authorization": "Basic abc"}), 401
    )


def test_auth_false_leaves_the_header_to_the_handler(server: RunningServer) -> None:
    r = httpx.post(site(server, "/raw-auth"), headers={"Authorization": "Bearer whsec_123"})
    assert r.json() == {"authorization": "Bearer whsec_123", "user": None}


def test_identity_reaches_ctx_auth(server: RunningServer) -> None:
    acting_as = base64.b64encode(
        json.dumps({"subject": "user-7", "issuer": "https://issuer"}).encode()
    ).decode()
    r = httpx.get(
        site(server, "/whoami"), headers={"Authorization": f"Convex {server.admin_key}:{acting_as}"}
    )
    assert r.json() == {"subject": "user-7"}
    assert assert_request_error(
        httpx.get(site(server, "/whoami"), headers={"Authorization": "Convex wrong"}), 401
    )


def test_storage_from_an_http_action(server: RunningServer) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    r = httpx.put(
        site(server, "/upload"), content=data, headers={"Content-Type": "application/x-test"}
    )
    assert r.status_code == 200, r.text
    got = httpx.get(r.json()["url"])
    assert got.content == data
    assert got.headers["content-type"] == "application/x-test"


def test_stdlib_http_is_not_shadowed(server: RunningServer) -> None:
    """functions/http.py is loaded under the app's own package, so
    `import http.client` in any function module is the standard library."""
    got = httpx.get(site(server, "/stdlib")).json()
    assert got["client"] == "Not Found"
    assert got["status"] == "Created"
    assert "functions" not in got["file"]


def test_reload_applies_new_routes(server: RunningServer) -> None:
    http_py = server.project_dir / "functions" / "http.py"
    source = http_py.read_text()
    http_py.write_text(
        source
        + '\n\n@http.route(path="/added", method="GET")\nasync def added(ctx, request):\n    return "added later"\n'
    )
    try:
        deadline = time.monotonic() + 10
        while httpx.get(site(server, "/added")).status_code == 404:
            assert time.monotonic() < deadline, "the new route never appeared"
            time.sleep(0.05)
        assert httpx.get(site(server, "/added")).text == "added later"
    finally:
        http_py.write_text(source)
    deadline = time.monotonic() + 10
    while httpx.get(site(server, "/added")).status_code != 404:
        assert time.monotonic() < deadline, "the removed route stayed"
        time.sleep(0.05)


def test_production_mode_hides_exception_text(tmp_path: Path) -> None:
    s = start_server(make_project(tmp_path / "prod", "httpapp"), mode="serve")
    try:
        r = httpx.get(s.site_url + "/boom")
        assert r.status_code == 500
        body = r.json()
        assert "kaboom" not in r.text
        assert body["message"].startswith("[Request ID: ") and body["message"].endswith(
            "Server Error"
        )
        assert httpx.get(s.site_url + "/app-error").json()["data"] == {"code": "not_allowed"}
        assert httpx.post(s.site_url + "/echo", json=[1]).json()["got"] == [1]
    finally:
        s.stop()


def test_no_http_module_means_404_everywhere(tmp_path: Path) -> None:
    s = start_server(make_project(tmp_path / "plain", "storageapp"))
    try:
        body = assert_request_error(httpx.get(s.site_url + "/anything"), 404)
        assert body["code"] == "NoHttpRouter"
    finally:
        s.stop()


def test_router_validates_routes() -> None:
    http = HttpRouter()

    async def handler(ctx, request):
        return "ok"

    http.route(path="/a", method="get", handler=handler)
    with pytest.raises(ValueError, match="already routed"):
        http.route(path="/a", method="GET", handler=handler)
    with pytest.raises(ValueError, match="start and end with '/'"):
        http.route(path_prefix="/no-slash", method="GET", handler=handler)
    with pytest.raises(ValueError, match="start with '/'"):
        http.route(path="relative", method="GET", handler=handler)
    with pytest.raises(ValueError, match="exactly one"):
        http.route(path="/x", path_prefix="/x/", method="GET", handler=handler)
    with pytest.raises(ValueError, match="method must be one of"):
        http.route(path="/x", method="HEAD", handler=handler)
    with pytest.raises(TypeError, match="async def"):
        http.route(path="/x", method="GET", handler=lambda ctx, request: "sync")
    assert http.lookup("HEAD", "/a") is http.lookup("GET", "/a") is not None
    assert http.lookup("POST", "/a") is None


def docs_blocks(page: Path) -> dict[str, str]:
    """The ```python blocks of a docs page that start with ``# docs/examples/...``."""
    blocks = {}
    for block in page.read_text().split("```python\n")[1:]:
        code = block.split("```", 1)[0]
        first, _, rest = code.partition("\n")
        if first.startswith("# docs/examples/"):
            blocks[first[2:]] = rest
    return blocks


def test_docs_blocks_equal_example_files() -> None:
    blocks = docs_blocks(REPO / "docs" / "http-actions.md")
    assert blocks, "docs/http-actions.md includes no example files"
    for rel, code in blocks.items():
        assert (REPO / rel).read_text() == code, f"docs/http-actions.md is out of date with {rel}"


def doc_output(page: str, command: str) -> str:
    """The line a page prints after its ``$ ...`` line: the one that is
    exactly ``$ command``, else the first containing ``command``."""
    lines = (REPO / page).read_text().splitlines()
    for exact in (True, False):
        for i, line in enumerate(lines):
            if line == f"$ {command}" if exact else (line.startswith("$ ") and command in line):
                return lines[i + 1]
    raise AssertionError(f"{page} has no command containing {command!r}")


def test_docs_examples(tmp_path: Path) -> None:
    """The calls docs/http-actions.md shows, against its example app."""
    page = "docs/http-actions.md"
    s = start_server(make_project(tmp_path / "docs-http", REPO / "docs" / "examples" / "http"))
    try:
        r = httpx.post(s.site_url + "/messages", content=b'{"author": "ada", "body": "hello"}')
        assert r.status_code == 201 and set(r.json()) == {"id"}
        assert set(json.loads(doc_output(page, "3211/messages -d"))) == {"id"}
        assert r.headers["access-control-allow-origin"] == "*"
        r = httpx.get(s.site_url + "/messages")
        assert r.json() == json.loads(doc_output(page, "curl -s http://127.0.0.1:3211/messages"))
        assert r.json() == [{"author": "ada", "body": "hello"}]
        assert httpx.get(s.site_url + "/nowhere").json() == json.loads(
            doc_output(page, "3211/nowhere")
        )
        preflight = httpx.options(s.site_url + "/messages")
        assert (
            preflight.status_code == 204
            and preflight.headers["access-control-allow-methods"] == "GET, POST"
        )

        up = httpx.post(
            s.site_url + "/files", content=b"hello file", headers={"Content-Type": "text/plain"}
        )
        assert set(up.json()) == set(json.loads(doc_output(page, "3211/files -H"))) == {"storageId"}
        down = httpx.get(f"{s.site_url}/files/{up.json()['storageId']}")
        assert down.text == doc_output(page, "3211/files/") == "hello file"
        assert down.headers["content-type"].startswith("text/plain")
        assert httpx.get(s.site_url + "/files/nope").status_code == 404

        assert httpx.get(s.site_url + "/me").json() == json.loads(
            doc_output(page, "curl -s http://127.0.0.1:3211/me")
        )
        refused = httpx.get(
            s.site_url + "/me", headers={"Authorization": "Bearer not-a-known-token"}
        )
        assert refused.status_code == 401
        assert refused.json() == json.loads(doc_output(page, "Bearer not-a-known-token"))

        httpx.post(
            s.url + "/api/_admin/env",
            json={"changes": {"PAYMENTS_SECRET": "s3cret"}},
            headers=s.admin_headers(),
        ).raise_for_status()
        payload = b'{"paid": 100}'
        signature = hmac.new(b"s3cret", payload, hashlib.sha256).hexdigest()
        bad = httpx.post(
            s.site_url + "/webhooks/payments",
            content=payload,
            headers={"Authorization": "Bearer 00"},
        )
        assert (bad.status_code, bad.text) == (401, "bad signature")
        ok = httpx.post(
            s.site_url + "/webhooks/payments",
            content=payload,
            headers={"Authorization": f"Bearer {signature}"},
        )
        assert (ok.status_code, ok.text) == (200, "ok")
        assert httpx.get(s.site_url + "/messages").json()[-1] == {
            "author": "payments",
            "body": '{"paid": 100}',
        }
    finally:
        s.stop()
