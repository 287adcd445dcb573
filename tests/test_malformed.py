"""Malformed requests: each gets a clear 4xx ``{"code", "message"}`` body or a
function error body, never a 500 or a traceback, and changes nothing.

Every write-capable request here targets a mutation that would insert a
document (``values:store`` into ``blobs``, ``messages:send``), so the
table contents are compared before and after each case.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.http import ENCODED, HTTP, assert_request_error, call, encode_ts, value
from tests.support.server import RunningServer

MIB = 1 << 20


def _state(server: RunningServer) -> tuple[int, int]:
    return (value(server, "query", "values:stored_count"), value(server, "query", "messages:count"))


@pytest.fixture(scope="module")
def server(testapp: RunningServer) -> Iterator[RunningServer]:
    # A valid write proves the functions used below do write when asked to.
    value(testapp, "mutation", "values:store", {"value": "seed"})
    value(testapp, "mutation", "messages:send", {"author": "seed", "body": "seed"})
    yield testapp


@pytest.fixture
def unchanged(server: RunningServer) -> Iterator[None]:
    """Asserts that the test changed no table contents."""
    before = _state(server)
    yield
    assert _state(server) == before, "a malformed request changed the database"


def _raw(server: RunningServer, method: str, endpoint: str, content: bytes | str | None = None, **kw: Any) -> httpx.Response:
    headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
    return HTTP.request(method, server.url + endpoint, content=content, headers=headers, timeout=60, **kw)


def _function_error(response: httpx.Response, *needles: str) -> str:
    """A function error body (HTTP 200, status error) whose message names ``needles``."""
    assert response.status_code == 200, f"{response.status_code}: {response.text[:500]}"
    body = response.json()
    assert body["status"] == "error", body
    message = body["errorMessage"]
    assert "Traceback" not in message
    for needle in needles:
        assert needle in message, (needle, message)
    return message


def _clear_failure(response: httpx.Response, *needles: str) -> None:
    """Either a 4xx request error or a function error; both must name ``needles``."""
    if response.status_code == 200:
        _function_error(response, *needles)
    else:
        body = assert_request_error(response)
        for needle in needles:
            assert needle in body["message"], (needle, body)


# -- the body itself ---------------------------------------------------------------

BAD_BODIES = {
    "invalid json": b'{"path": "values:store", "args": {',
    "trailing garbage": b'{"path": "values:store", "args": {"value": 1}} x',
    "empty": b"",
    "whitespace": b"   \n",
    "array": b'[{"path": "values:store", "args": {"value": 1}}]',
    "string": b'"values:store"',
    "number": b"5",
    "null": b"null",
    "invalid utf-8": b'{"path": "values:store", "args": {"value": "\xff\xfe"}}',
    "lone surrogate escape": b'{"path": "values:store", "args": {"value": "\\ud800"}}',
    "NaN literal": b'{"path": "values:store", "args": {"value": NaN}}',
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
@pytest.mark.parametrize("endpoint", ["/api/mutation", "/api/function", "/api/query_at_ts"])
@pytest.mark.usefixtures("unchanged")
def test_bad_json_body(server: RunningServer, endpoint: str, name: str) -> None:
    response = _raw(server, "POST", endpoint, BAD_BODIES[name])
    if name == "lone surrogate escape" and response.status_code == 200:
        # A JSON parser may accept the escape; the value check must then refuse it.
        _function_error(response, "args")
        return
    assert_request_error(response, 400)


@pytest.mark.parametrize("name", ["invalid json", "array", "null"])
@pytest.mark.usefixtures("unchanged")
def test_bad_body_on_batch_and_run(server: RunningServer, name: str) -> None:
    assert_request_error(_raw(server, "POST", "/api/query_batch", BAD_BODIES[name]), 400)
    if name != "null":
        assert_request_error(_raw(server, "POST", "/api/run/values/store", BAD_BODIES[name]), 400)


@pytest.mark.parametrize(
    "body",
    [
        {"args": {"value": 1}},
        {"path": None, "args": {"value": 1}},
        {"path": 5, "args": {"value": 1}},
        {"path": ["values:store"], "args": {"value": 1}},
        {"path": "", "args": {"value": 1}},
    ],
)
@pytest.mark.usefixtures("unchanged")
def test_missing_or_non_string_path(server: RunningServer, body: dict[str, Any]) -> None:
    assert_request_error(HTTP.post(server.url + "/api/mutation", json=body, timeout=10), 400)


@pytest.mark.parametrize(
    "path",
    ["::", ":store", "values:", "values:st ore", "../values:store", "values/../x:store", "values.ts:store",
     "values:1store", "values:__", "/:store", "a" * 65 + ":store", "values:" + "s" * 65, "vålues:store"],
)
@pytest.mark.usefixtures("unchanged")
def test_invalid_path(server: RunningServer, path: str) -> None:
    response = HTTP.post(server.url + "/api/mutation", json={"path": path, "args": {"value": 1}}, timeout=10)
    body = assert_request_error(response, 400)
    assert body["code"] == "BadConvexFunctionIdentifier"


@pytest.mark.parametrize("url", ["/api/run/store", "/api/run/", "/api/run/values/sto%20re", "/api/run/values/..%2F/store"])
@pytest.mark.usefixtures("unchanged")
def test_invalid_run_url(server: RunningServer, url: str) -> None:
    response = _raw(server, "POST", url, b'{"args": {"value": 1}}')
    assert_request_error(response)


@pytest.mark.parametrize("fmt", ["xml", "JSON", "", 5, ["json"]])
@pytest.mark.usefixtures("unchanged")
def test_unknown_format(server: RunningServer, fmt: Any) -> None:
    body = {"path": "values:store", "args": {"value": 1}, "format": fmt}
    response = HTTP.post(server.url + "/api/mutation", json=body, timeout=10)
    assert assert_request_error(response, 400)["code"] == "BadFormat"


@pytest.mark.parametrize("args", [5, "value", True, [1, 2], [5], ["x"], [{"value": 1}, {"value": 2}]])
@pytest.mark.usefixtures("unchanged")
def test_args_not_an_object(server: RunningServer, args: Any) -> None:
    response = HTTP.post(server.url + "/api/mutation", json={"path": "values:store", "args": args}, timeout=10)
    assert_request_error(response, 400)


@pytest.mark.usefixtures("unchanged")
def test_non_empty_component_path(server: RunningServer) -> None:
    body = {"path": "values:store", "args": {"value": 1}, "componentPath": "other"}
    assert_request_error(HTTP.post(server.url + "/api/function", json=body, timeout=10), 400)


# -- arguments that do not fit ------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ({"author": 1, "body": "x"}, "args.author"),
        ({"author": "a", "body": None}, "args.body"),
        ({"author": "a", "body": ["x"]}, "args.body"),
        ({"author": "a"}, "body"),
        ({"author": "a", "body": "b", "extra": 1}, "extra"),
        ({}, "author"),
    ],
)
@pytest.mark.parametrize("fmt", [ENCODED, "json"])
@pytest.mark.usefixtures("unchanged")
def test_args_of_the_wrong_shape(server: RunningServer, args: dict[str, Any], needle: str, fmt: str) -> None:
    response = HTTP.post(
        server.url + "/api/mutation", json={"path": "messages:send", "args": args, "format": fmt}, timeout=10
    )
    _function_error(response, "messages:send", needle)


@pytest.mark.parametrize(
    "bad",
    [
        {"$integer": "AAA="},  # 2 bytes
        {"$integer": "AAAAAAAAAAAAAA=="},  # 10 bytes
        {"$integer": "!!!!"},
        {"$integer": 5},
        {"$bytes": "not base64!"},
        {"$bytes": "QQ"},  # missing padding
        {"$bytes": None},
        {"$float": "AAAA"},
        {"$float": 1.5},
        {"$set": []},
        {"$map": []},
        {"$unknown": 1},
    ],
)
@pytest.mark.usefixtures("unchanged")
def test_undecodable_encoded_values(server: RunningServer, bad: dict[str, Any]) -> None:
    for args in ({"value": bad}, {"value": {"nested": [bad]}}):
        response = HTTP.post(
            server.url + "/api/mutation", json={"path": "values:store", "args": args, "format": ENCODED}, timeout=10
        )
        _clear_failure(response, next(iter(bad)))


def _deep(levels: int) -> Any:
    v: Any = "leaf"
    for i in range(levels):
        v = [v] if i % 2 else {"k": v}
    return v


@pytest.mark.usefixtures("unchanged")
def test_too_deep_values(server: RunningServer) -> None:
    for levels in (17, 40):
        response = HTTP.post(
            server.url + "/api/mutation", json={"path": "values:store", "args": {"value": _deep(levels)}}, timeout=10
        )
        _clear_failure(response, "nested")


@pytest.mark.parametrize("fmt", ["json", ENCODED])
@pytest.mark.usefixtures("unchanged")
def test_very_deep_values(server: RunningServer, fmt: str) -> None:
    # Deeper than Python's recursion would allow a naive decoder (orjson
    # itself accepts up to 1024 levels).
    for levels in (500, 1000):
        # Built as text: the stdlib encoder would itself hit the recursion limit.
        deep = '{"k": [' * (levels // 2) + '"leaf"' + "]}" * (levels // 2)
        body = f'{{"path": "values:store", "format": "{fmt}", "args": {{"value": {deep}}}}}'
        _clear_failure(_raw(server, "POST", "/api/mutation", body), "nested")


def test_moderately_deep_values_are_fine(server: RunningServer) -> None:
    # The limit is not a blanket refusal of nesting.
    assert value(server, "query", "values:echo", {"value": _deep(10)}) == _deep(10)


@pytest.mark.usefixtures("unchanged")
def test_too_many_fields(server: RunningServer) -> None:
    big = {f"f{i}": i for i in range(1025)}
    response = HTTP.post(server.url + "/api/mutation", json={"path": "values:store", "args": {"value": big}}, timeout=10)
    _clear_failure(response, "1024")
    arr = list(range(8193))
    response = HTTP.post(server.url + "/api/mutation", json={"path": "values:store", "args": {"value": arr}}, timeout=10)
    _clear_failure(response, "8192")


@pytest.mark.parametrize("key", ["$x", "café", "", "tab\there", "new\nline", "\u0000", "x" * 1025])
@pytest.mark.parametrize("fmt", [ENCODED, "json"])
@pytest.mark.usefixtures("unchanged")
def test_bad_field_names(server: RunningServer, key: str, fmt: str) -> None:
    # Nested in the value, and two levels down (a single "$x" key at the top
    # of an encoded value is a type tag, so wrap it with a sibling).
    for val in ({key: 1, "ok": 2}, {"outer": {key: 1, "ok": 2}}):
        response = HTTP.post(
            server.url + "/api/mutation",
            json={"path": "values:store", "args": {"value": val}, "format": fmt},
            timeout=10,
        )
        _clear_failure(response, "field name")


@pytest.mark.parametrize("key", ["$x", "café"])
@pytest.mark.usefixtures("unchanged")
def test_bad_top_level_arg_names(server: RunningServer, key: str) -> None:
    response = HTTP.post(
        server.url + "/api/function", json={"path": "values:store", "args": {"value": 1, key: 2}}, timeout=10
    )
    _clear_failure(response)


@pytest.mark.parametrize("fmt", ["json", ENCODED])
@pytest.mark.parametrize("n", [2**53 + 1, -(2**53) - 1, 2**63 + 5, 2**64 - 1, -(2**63)])
@pytest.mark.usefixtures("unchanged")
def test_ints_beyond_2_53(server: RunningServer, n: int, fmt: str) -> None:
    # A JSON integer float64 can't hold exactly is refused, not rounded.
    body = f'{{"path": "values:store", "format": "{fmt}", "args": {{"value": {n}}}}}'
    _clear_failure(_raw(server, "POST", "/api/mutation", body), str(n))


@pytest.mark.parametrize("n", [2**64 + 1, -(2**63) - 1, 10**30])
@pytest.mark.usefixtures("unchanged")
def test_ints_beyond_64_bits(server: RunningServer, n: int) -> None:
    body = f'{{"path": "values:store", "format": "json", "args": {{"value": {n}}}}}'
    _clear_failure(_raw(server, "POST", "/api/mutation", body))


@pytest.mark.parametrize("bad_id", ["abc", "", "0" * 32, "kg2" + "z" * 29, 5, None, {"id": 1}])
@pytest.mark.usefixtures("unchanged")
def test_invalid_document_ids(server: RunningServer, bad_id: Any) -> None:
    response = HTTP.post(server.url + "/api/query", json={"path": "calls:get_message", "args": {"id": bad_id}}, timeout=10)
    _function_error(response, "args.id")


@pytest.mark.usefixtures("unchanged")
def test_id_of_another_table(server: RunningServer) -> None:
    blob_id = value(server, "query", "values:echo", {"value": "x"})  # warm up
    assert blob_id == "x"
    messages = value(server, "query", "messages:list")
    message_id = messages[0]["_id"]
    response = HTTP.post(
        server.url + "/api/query", json={"path": "calls:get_account", "args": {"id": message_id}}, timeout=10
    )
    _function_error(response, "args.id", "accounts")


# -- sizes --------------------------------------------------------------------------


@pytest.mark.usefixtures("unchanged")
def test_oversized_body_is_413(server: RunningServer) -> None:
    filler = "x" * (16 * MIB + 4096)
    body = f'{{"path": "values:store", "args": {{"value": "{filler}"}}}}'.encode()
    response = _raw(server, "POST", "/api/mutation", body)
    assert_request_error(response, 413)

    # Chunked (no Content-Length): the limit is enforced while reading.
    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), MIB):
            yield body[i : i + MIB]

    response = _raw(server, "POST", "/api/mutation", chunks())  # type: ignore[arg-type]
    assert_request_error(response, 413)


@pytest.mark.usefixtures("unchanged")
def test_args_just_under_the_body_limit_but_too_big_for_a_document(server: RunningServer) -> None:
    # 2 MiB is a fine request but more than a document may hold (1 MiB).
    response = HTTP.post(
        server.url + "/api/mutation", json={"path": "values:store", "args": {"value": "y" * (2 * MIB)}}, timeout=30
    )
    _function_error(response)


# -- endpoints and methods ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [("GET", "/api/nope"), ("POST", "/api/nope"), ("GET", "/nope"), ("POST", "/api/queries"), ("GET", "/api/")],
)
def test_unknown_endpoints_are_404_json(server: RunningServer, method: str, url: str) -> None:
    assert_request_error(_raw(server, method, url, b"{}" if method == "POST" else None), 404)


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/api/mutation"),
        ("GET", "/api/action"),
        ("PUT", "/api/query"),
        ("DELETE", "/api/mutation"),
        ("PATCH", "/api/function"),
        ("GET", "/api/query_ts"),
        ("GET", "/api/query_batch"),
        ("POST", "/version"),
    ],
)
@pytest.mark.usefixtures("unchanged")
def test_wrong_methods_are_405_json(server: RunningServer, method: str, url: str) -> None:
    content = b'{"path": "values:store", "args": {"value": 1}}' if method != "GET" else None
    assert_request_error(_raw(server, method, url, content), 405)


# -- the other endpoints ---------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"path": ""},
        {"path": "values:echo", "args": "{not json"},
        {"path": "values:echo", "args": "[1, 2]"},
        {"path": "values:echo", "args": "{}", "format": "xml"},
        {"path": ":::"},
    ],
)
def test_bad_get_query(server: RunningServer, params: dict[str, str]) -> None:
    assert_request_error(HTTP.get(server.url + "/api/query", params=params, timeout=10), 400)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"queries": "values:echo"},
        {"queries": [5]},
        {"queries": [{"args": {}}]},
        {"queries": [{"path": "values:echo", "args": 5}]},
        {"queries": [{"path": "values:echo", "args": {}, "format": "xml"}]},
    ],
)
def test_bad_query_batch(server: RunningServer, body: dict[str, Any]) -> None:
    assert_request_error(HTTP.post(server.url + "/api/query_batch", json=body, timeout=10), 400)


def test_query_batch_refuses_non_queries(server: RunningServer) -> None:
    # A mutation in a batch must not run: it's a function error, nothing written.
    before = _state(server)
    response = HTTP.post(
        server.url + "/api/query_batch",
        json={"queries": [{"path": "values:store", "args": {"value": "batch"}}]},
        timeout=10,
    )
    if response.status_code == 200:
        assert response.json()["results"][0]["status"] == "error"
    else:
        assert_request_error(response)
    assert _state(server) == before


@pytest.mark.parametrize("ts", ["", "AAAA", "not base64!", 5, None, [1], encode_ts(2**63)])
def test_bad_query_at_ts(server: RunningServer, ts: Any) -> None:
    body = {"path": "messages:count", "args": {}, "ts": ts}
    assert_request_error(HTTP.post(server.url + "/api/query_at_ts", json=body, timeout=10), 400)


@pytest.mark.parametrize(
    "header", ["Convex not-the-key", "Bearer", "Bearer x.y.z", "Basic dXNlcjpwdw==", "Token abc", "Convex livebase|0"]
)
@pytest.mark.usefixtures("unchanged")
def test_bad_authorization(server: RunningServer, header: str) -> None:
    response = _raw(
        server, "POST", "/api/mutation", b'{"path": "values:store", "args": {"value": 1}}', headers={"Authorization": header}
    )
    assert_request_error(response, 401)


@pytest.mark.usefixtures("unchanged")
def test_mutation_of_a_query_and_missing_function_change_nothing(server: RunningServer) -> None:
    data = call(server, "query", "values:store", {"value": 1})
    assert data["status"] == "error"
    data = call(server, "mutation", "values:store_nope", {"value": 1})
    assert data["status"] == "error"


def test_server_still_healthy(server: RunningServer) -> None:
    # After all of the above the server answers normally and its log holds no
    # unhandled exception.
    assert value(server, "query", "values:echo", {"value": [1, "ok"]}) == [1, "ok"]
    log = server.log()
    assert "Traceback" not in log, log[-3000:]
