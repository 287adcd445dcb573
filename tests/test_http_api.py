"""The HTTP API of PROTOCOL.md §1–2, driven over real sockets against
``livebase dev`` (and ``livebase serve`` where the two differ).

Expected encodings are built here from ``struct``/``base64`` (see
``tests/support/http.py``), not with Livebase's own codec.
"""

from __future__ import annotations

import base64
import math
import struct
import uuid
from typing import Any

import httpx
import pytest

from tests.support.http import (
    ENCODED,
    HTTP,
    REQUEST_ID_LINE,
    assert_request_error,
    bytes_,
    call,
    decode_ts,
    encode_ts,
    error,
    error_detail,
    f64,
    int64,
    post,
    value,
)
from tests.support.server import RunningServer

# -- args and formats -------------------------------------------------------------


def test_args_as_positional_array_and_bare_object(testapp: RunningServer) -> None:
    author = f"args-{uuid.uuid4().hex[:8]}"
    for form in ([{"author": author, "body": "one"}], {"author": author, "body": "two"}):
        data = call(testapp, "mutation", "messages:send", form)
        assert data["status"] == "success", data
        assert isinstance(data["value"], str) and data["value"]
    bodies = [m["body"] for m in value(testapp, "query", "messages:list") if m["author"] == author]
    assert sorted(bodies) == ["one", "two"]


@pytest.mark.parametrize("args", [None, {}, [], [{}]])
def test_empty_args_forms(testapp: RunningServer, args: Any) -> None:
    body: dict[str, Any] = {"path": "messages:default", "format": ENCODED}
    if args is not None:
        body["args"] = args
    response = post(testapp, "query", body)
    assert response.status_code == 200, response.text
    assert response.json()["value"] == "messages default export"


SPECIALS_ENCODED = {
    "max": int64(2**63 - 1),
    "min": int64(-(2**63)),
    "zero": int64(0),
    "nan": {"$float": "AAAAAAAA+H8="},
    "inf": {"$float": "AAAAAAAA8H8="},
    "ninf": {"$float": "AAAAAAAA8P8="},
    "negzero": {"$float": "AAAAAAAAAIA="},
    "bytes": {"$bytes": "AAH+/w=="},
    "float": 1.5,
    "int": 42,
    "unicode": "héllo wörld ✓ 🎉",
}
SPECIALS_CLEAN = {
    "max": "9223372036854775807",
    "min": "-9223372036854775808",
    "zero": "0",
    "nan": "NaN",
    "inf": "Infinity",
    "ninf": "-Infinity",
    "bytes": "AAH+/w==",
    "float": 1.5,
    "int": 42,
    "unicode": "héllo wörld ✓ 🎉",
}


def _assert_clean_specials(got: dict[str, Any]) -> None:
    negzero = got.pop("negzero")
    assert negzero == 0 and math.copysign(1.0, negzero) == -1.0, negzero
    assert got == SPECIALS_CLEAN


@pytest.mark.parametrize("fmt", ["convex_encoded_json", "convex_json"])
def test_encoded_format(testapp: RunningServer, fmt: str) -> None:
    assert value(testapp, "query", "values:specials", fmt=fmt) == SPECIALS_ENCODED


@pytest.mark.parametrize("fmt", ["json", "convex_clean_json", None])
def test_clean_format_and_default(testapp: RunningServer, fmt: str | None) -> None:
    # An absent "format" means clean JSON for modern clients (PROTOCOL.md §2.2).
    _assert_clean_specials(value(testapp, "query", "values:specials", fmt=fmt))


def test_run_endpoint_defaults_to_clean_json(testapp: RunningServer) -> None:
    response = post(testapp, "run/values/specials", {"args": {}})
    assert response.status_code == 200, response.text
    _assert_clean_specials(response.json()["value"])
    response = post(testapp, "run/values/specials", {"args": {}, "format": ENCODED})
    assert response.json()["value"] == SPECIALS_ENCODED
    # No body at all is fine too.
    response = HTTP.post(testapp.url + "/api/run/messages/default", timeout=10)
    assert response.json() == {"status": "success", "value": "messages default export", "logLines": []}


def test_run_endpoint_nested_and_mutation(testapp: RunningServer) -> None:
    response = post(testapp, "run/nested/deep/hello", {"args": {"name": "run"}})
    assert response.json()["value"] == "hello run from nested/deep"
    author = f"run-{uuid.uuid4().hex[:8]}"
    response = post(testapp, "run/messages/send", {"args": {"author": author, "body": "via run"}})
    assert response.json()["status"] == "success", response.text
    assert any(m["author"] == author for m in value(testapp, "query", "messages:list"))


# -- every value type --------------------------------------------------------------

ROUND_TRIP_VALUES = {
    "null": None,
    "true": True,
    "false": False,
    "int64 zero": int64(0),
    "int64 one": int64(1),
    "int64 minus one": int64(-1),
    "int64 max": int64(2**63 - 1),
    "int64 min": int64(-(2**63)),
    "int64 2^53+1": int64(2**53 + 1),
    "number 0": 0,
    "number negative": -17,
    "number 2^53": 2**53,
    "number fraction": 0.1,
    "number tiny": 5e-324,
    "number huge": 1.7976931348623157e308,
    "nan": f64(math.nan),
    "inf": f64(math.inf),
    "-inf": f64(-math.inf),
    "-0.0": f64(-0.0),
    "empty string": "",
    "unicode": "日本語 ünïcödé 🎉 \u0000 \n\t\"\\",
    "bytes empty": bytes_(b""),
    "bytes binary": bytes_(bytes(range(256))),
    "empty array": [],
    "empty object": {},
    "nested": {
        "a": [1, [2, [3, {"b": int64(7), "c": bytes_(b"\x00")}]]],
        "d": {"e": {"f": f64(math.nan), "g": None, "h": "x"}},
        "_system_like": True,
    },
    "array of everything": [None, True, 1.5, int64(3), bytes_(b"hi"), "s", [], {}],
}

DESCRIBED = {
    "null": "null",
    "true": "boolean",
    "int64 max": "int64",
    "number 2^53": "number",
    "nan": "number",
    "-0.0": "number",
    "bytes binary": "bytes",
    "unicode": "string",
    "array of everything": ["null", "boolean", "number", "int64", "bytes", "string", [], {}],
}


@pytest.mark.parametrize("name", list(ROUND_TRIP_VALUES))
@pytest.mark.parametrize(
    ("endpoint", "path"),
    [("query", "values:echo"), ("mutation", "values:echo_mutation"), ("action", "values:echo_action")],
)
def test_value_round_trip(testapp: RunningServer, name: str, endpoint: str, path: str) -> None:
    sent = ROUND_TRIP_VALUES[name]
    assert value(testapp, endpoint, path, {"value": sent}) == sent


@pytest.mark.parametrize("name", list(DESCRIBED))
def test_server_sees_the_right_types(testapp: RunningServer, name: str) -> None:
    got = value(testapp, "query", "values:describe", {"value": ROUND_TRIP_VALUES[name]})
    assert got == DESCRIBED[name]


def test_float_encodings_are_exact(testapp: RunningServer) -> None:
    # A NaN payload and -0.0 must come back bit-for-bit as IEEE-754 LE.
    got = value(testapp, "query", "values:echo", {"value": [f64(-0.0), f64(math.inf), 1e-300]})
    assert got[0] == {"$float": "AAAAAAAAAIA="}
    assert struct.unpack("<d", base64.b64decode(got[1]["$float"]))[0] == math.inf
    assert got[2] == 1e-300


def test_typed_validators_accept_each_type(testapp: RunningServer) -> None:
    args = {
        "i": int64(-5),
        "f": f64(math.inf),
        "n": 3,
        "b": bytes_(b"\x01\x02"),
        "s": "s",
        "z": None,
        "t": False,
        "a": [1, "x"],
        "o": {"x": int64(1)},
    }
    assert value(testapp, "query", "values:typed", args) == args


def test_clean_json_values(testapp: RunningServer) -> None:
    got = value(testapp, "query", "values:echo", {"value": {"a": [1, 2.5, "x", None, True]}}, fmt="json")
    assert got == {"a": [1, 2.5, "x", None, True]}
    # Clean JSON has no tagged types: a "$integer"-shaped object is refused
    # (field names may not start with "$") instead of being decoded.
    data = error(testapp, "query", "values:echo", {"value": int64(987654321)}, fmt="json")
    assert "$integer" in data["errorMessage"]


def test_cached_result_is_not_served_for_invalid_args(testapp: RunningServer) -> None:
    # The clean-JSON object {"$integer": ...} is not the int64 the encoded
    # form means, even when that int64's result is cached.
    assert value(testapp, "query", "values:echo", {"value": int64(4242)}) == int64(4242)
    data = call(testapp, "query", "values:echo", {"value": int64(4242)}, fmt="json")
    assert data["status"] == "error", data


# -- errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    ["a plain string", {"code": "NOT_FOUND", "n": 1.5, "big": int64(9)}, [1, "two", None], 7, None],
)
@pytest.mark.parametrize(
    ("endpoint", "path"),
    [("query", "failures:app_error"), ("mutation", "failures:app_error_mutation"), ("action", "failures:app_error_action")],
)
def test_app_error_data_reaches_error_data(testapp: RunningServer, data: Any, endpoint: str, path: str) -> None:
    body = error(testapp, endpoint, path, {"data": data})
    assert "errorData" in body, body
    assert body["errorData"] == data
    assert "Uncaught AppError" in body["errorMessage"]


def test_app_error_data_clean_format(testapp: RunningServer) -> None:
    body = error(testapp, "query", "failures:app_error", {"data": {"big": int64(9), "b": bytes_(b"\x01")}})
    assert body["errorData"] == {"big": int64(9), "b": bytes_(b"\x01")}
    body = call(testapp, "query", "failures:app_error", {"data": {"n": 1}}, fmt="json")
    assert body["status"] == "error" and body["errorData"] == {"n": 1}


def test_failed_mutations_roll_back(testapp: RunningServer) -> None:
    before = value(testapp, "query", "messages:count")
    error(testapp, "mutation", "failures:app_error_mutation", {"data": "no"})
    error(testapp, "mutation", "failures:crash_mutation")
    after = value(testapp, "query", "messages:count")
    assert after == before
    authors = {m["author"] for m in value(testapp, "query", "messages:list")}
    assert not authors & {"app_error_mutation", "crash_mutation"}


@pytest.mark.parametrize(
    ("endpoint", "path", "text"),
    [
        ("query", "failures:crash", "Uncaught ValueError: boom: the secret is 42"),
        ("mutation", "failures:crash_mutation", "Uncaught ValueError: mutation boom"),
        ("action", "failures:crash_action", "Uncaught ValueError: action boom"),
    ],
)
def test_dev_server_shows_exception(testapp: RunningServer, endpoint: str, path: str, text: str) -> None:
    response = post(testapp, endpoint, {"path": path, "args": {}, "format": ENCODED})
    body = response.json()
    assert body["status"] == "error"
    assert "errorData" not in body
    first, rest = body["errorMessage"].split("\n", 1)
    assert REQUEST_ID_LINE.match(first), first
    assert rest.startswith(text), rest
    # The user's frame is named; no Python traceback dump is sent.
    assert "failures.py" in rest
    assert "Traceback" not in rest
    # The request id in the message is the one in the response header.
    assert first == f"[Request ID: {response.headers['convex-request-id']}] Server Error"


@pytest.mark.parametrize(
    ("endpoint", "path"),
    [("query", "failures:crash"), ("mutation", "failures:crash_mutation"), ("action", "failures:crash_action")],
)
def test_serve_redacts_exceptions(testapp_serve: RunningServer, endpoint: str, path: str) -> None:
    body = error(testapp_serve, endpoint, path)
    assert REQUEST_ID_LINE.match(body["errorMessage"]), body["errorMessage"]
    assert "boom" not in body["errorMessage"]
    assert "errorData" not in body


def test_serve_keeps_app_error_data(testapp_serve: RunningServer) -> None:
    body = error(testapp_serve, "query", "failures:app_error", {"data": {"code": "visible"}})
    assert body["errorData"] == {"code": "visible"}


def test_serve_answers_functions(testapp_serve: RunningServer) -> None:
    assert value(testapp_serve, "query", "values:specials") == SPECIALS_ENCODED
    assert value(testapp_serve, "action", "calls:chain", {"x": 1, "body": "prod"})["doubled"] == 2


def test_log_lines_from_print_and_logging(testapp: RunningServer) -> None:
    body = call(testapp, "query", "failures:logs")
    assert body["value"] == "logged"
    assert body["logLines"] == [
        "[LOG] printed line 1",
        "[INFO] info via logging",
        "[WARN] warning via logging",
        "[ERROR] error via logging",
    ]
    body = call(testapp, "mutation", "failures:logs_mutation")
    assert body["logLines"] == ["[LOG] mutation printed"]
    body = call(testapp, "mutation", "messages:send", {"author": "log", "body": "hello"})
    assert body["logLines"] == ["[LOG] sending hello"]


def test_missing_function(testapp: RunningServer) -> None:
    body = error(testapp, "query", "x:y")
    assert error_detail(body) == "Could not find public function for 'x:y'."
    body = error(testapp, "mutation", "messages:nope")
    assert error_detail(body) == "Could not find public function for 'messages:nope'."
    body = error(testapp, "action", "nested/deep:nope")
    assert error_detail(body) == "Could not find public function for 'nested/deep:nope'."


@pytest.mark.parametrize(
    ("endpoint", "path", "detail"),
    [
        ("mutation", "messages:count", "Trying to execute messages:count as Mutation, but it is defined as Query."),
        ("action", "messages:count", "Trying to execute messages:count as Action, but it is defined as Query."),
        ("query", "messages:send", "Trying to execute messages:send as Query, but it is defined as Mutation."),
        ("query", "values:echo_action", "Trying to execute values:echo_action as Query, but it is defined as Action."),
        ("mutation", "values:echo_action", "Trying to execute values:echo_action as Mutation, but it is defined as Action."),
    ],
)
def test_wrong_function_kind(testapp: RunningServer, endpoint: str, path: str, detail: str) -> None:
    assert error_detail(error(testapp, endpoint, path, {"value": 1})) == detail


# -- paths -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("messages", "messages default export"),
        ("messages:default", "messages default export"),
        ("messages.js", "messages default export"),
        ("nested/deep", "nested default export"),
        ("nested/deep.js:default", "nested default export"),
    ],
)
def test_default_export(testapp: RunningServer, path: str, expected: str) -> None:
    assert value(testapp, "query", path) == expected


def test_js_suffix_and_nested_paths(testapp: RunningServer) -> None:
    count = value(testapp, "query", "messages:count")
    assert value(testapp, "query", "messages.js:count") == count
    assert value(testapp, "query", "nested/deep:hello", {"name": "a"}) == "hello a from nested/deep"
    assert value(testapp, "query", "nested/deep.js:hello", {"name": "b"}) == "hello b from nested/deep"
    author = f"js-{uuid.uuid4().hex[:8]}"
    assert isinstance(value(testapp, "mutation", "messages.js:send", {"author": author, "body": "x"}), str)
    assert value(testapp, "query", "messages:count") == count + 1


def test_function_endpoint_runs_any_kind(testapp: RunningServer) -> None:
    # /api/function takes a bare args object, like the JS client's function().
    assert value(testapp, "function", "values:echo", {"value": int64(5)}) == int64(5)
    assert value(testapp, "function", "values:echo_mutation", {"value": "m"}) == "m"
    assert value(testapp, "function", "values:echo_action", {"value": bytes_(b"a")}) == bytes_(b"a")
    assert value(testapp, "function", "nested/deep") == "nested default export"


# -- internal functions and admin auth ----------------------------------------------

INTERNAL = [
    ("query", "calls:secret_double", {"x": 21}, 42),
    ("action", "calls:secret_action", {"x": 1}, 2),
    ("function", "calls:secret_double", {"x": 2}, 4),
]


@pytest.mark.parametrize(("endpoint", "path", "args", "expected"), INTERNAL)
def test_internal_functions_refused_without_admin_key(
    testapp: RunningServer, endpoint: str, path: str, args: dict[str, Any], expected: Any
) -> None:
    body = error(testapp, endpoint, path, args)
    assert error_detail(body) == f"Could not find public function for '{path}'."


@pytest.mark.parametrize(("endpoint", "path", "args", "expected"), INTERNAL)
def test_internal_functions_allowed_with_admin_key(
    testapp: RunningServer, endpoint: str, path: str, args: dict[str, Any], expected: Any
) -> None:
    assert value(testapp, endpoint, path, args, headers=testapp.admin_headers()) == expected


def test_internal_mutation_with_admin_key(testapp: RunningServer) -> None:
    before = value(testapp, "query", "messages:count")
    assert error(testapp, "mutation", "calls:secret_send", {"body": "nope"})
    assert value(testapp, "query", "messages:count") == before
    doc_id = value(testapp, "mutation", "calls:secret_send", {"body": "admin"}, headers=testapp.admin_headers())
    assert value(testapp, "query", "calls:get_message", {"id": doc_id})["body"] == "admin"
    # /api/run and the "Convex <key>:<acting-as identity>" form too.
    response = post(testapp, "run/calls/secret_double", {"args": {"x": 5}}, headers=testapp.admin_headers())
    assert response.json()["value"] == 10


def test_admin_key_acting_as_a_user_is_accepted(testapp: RunningServer) -> None:
    # "Convex <key>:<base64 JSON identity>" (JS setAdminAuth(key, identity)).
    headers = {"Authorization": f"Convex {testapp.admin_key}:eyJzdWJqZWN0IjoidSJ9"}
    assert value(testapp, "query", "nested/deep:hello", {"name": "u"}, headers=headers) == "hello u from nested/deep"
    bad = {"Authorization": "Convex wrong:eyJzdWJqZWN0IjoidSJ9"}
    assert_request_error(post(testapp, "query", {"path": "messages:default", "args": {}}, headers=bad), 401)


def test_admin_key_works_for_public_functions(testapp: RunningServer) -> None:
    assert value(testapp, "query", "messages:default", headers=testapp.admin_headers()) == "messages default export"


@pytest.mark.parametrize("header", ["Convex wrong-key", "Convex", "convex livebase|00", "Bearer not.a.jwt", "Basic abc"])
def test_bad_authorization_header_is_401(testapp: RunningServer, header: str) -> None:
    response = post(testapp, "query", {"path": "calls:secret_double", "args": {"x": 1}}, headers={"Authorization": header})
    assert_request_error(response, 401)


# -- consistent queries, batches, GET ------------------------------------------------


def _query_ts(server: RunningServer) -> int:
    response = HTTP.post(server.url + "/api/query_ts", timeout=10)
    assert response.status_code == 200, response.text
    return decode_ts(response.json()["ts"])


def _query_at_ts(server: RunningServer, ts: int, counter: str) -> httpx.Response:
    """``counters:get`` of one counter at ``ts``, the way JS ``consistentQuery`` asks."""
    body = {"path": "counters:get", "format": ENCODED, "args": [{"name": counter}], "ts": encode_ts(ts)}
    return post(server, "query_at_ts", body)


def test_query_ts_and_query_at_ts(testapp: RunningServer) -> None:
    # The counter name is fresh, so no cached result can be involved.
    name = f"ts-{uuid.uuid4().hex[:8]}"
    value(testapp, "mutation", "counters:increment", {"name": name})
    ts1 = _query_ts(testapp)
    assert 0 < ts1 < 2**63
    response = _query_at_ts(testapp, ts1, name)
    assert response.status_code == 200, response.text
    assert response.json()["value"] == 1

    value(testapp, "mutation", "counters:increment", {"name": name})
    ts2 = _query_ts(testapp)
    assert ts2 > ts1
    # At the old ts the query must not see the later write: either the old
    # value or a clear "too old" error, never the new count.
    response = _query_at_ts(testapp, ts1, name)
    if response.status_code == 200:
        assert response.json()["value"] == 1
    else:
        assert_request_error(response)
    # A query reading nothing that changed is answerable at ts1.
    unrelated = {"path": "nested/deep:hello", "args": {"name": name}, "ts": encode_ts(ts1)}
    assert post(testapp, "query_at_ts", unrelated).json()["value"] == f"hello {name} from nested/deep"
    assert _query_at_ts(testapp, ts2, name).json()["value"] == 2


def test_query_at_ts_of_a_cached_query(testapp: RunningServer) -> None:
    name = f"tsc-{uuid.uuid4().hex[:8]}"
    value(testapp, "mutation", "counters:increment", {"name": name})
    ts1 = _query_ts(testapp)
    assert value(testapp, "query", "counters:get", {"name": name}) == 1
    value(testapp, "mutation", "counters:increment", {"name": name})
    assert value(testapp, "query", "counters:get", {"name": name}) == 2  # now cached
    response = _query_at_ts(testapp, ts1, name)
    if response.status_code == 200:
        assert response.json()["value"] == 1
    else:
        assert_request_error(response)
    future = _query_ts(testapp) + 10**15
    assert_request_error(_query_at_ts(testapp, future, name), 400)


def test_query_at_ts_rejects_bad_ts(testapp: RunningServer) -> None:
    # Fresh args: no cached result is involved.
    body = {"path": "nested/deep:hello", "args": {"name": uuid.uuid4().hex}}
    for ts in ["nope", 5, None, "AAAA", encode_ts(2**63 + 1)]:
        assert_request_error(post(testapp, "query_at_ts", {**body, "ts": ts}), 400)
    future = encode_ts(_query_ts(testapp) + 10**15)
    assert_request_error(post(testapp, "query_at_ts", {**body, "ts": future}), 400)


def test_query_batch(testapp: RunningServer) -> None:
    body = {
        "queries": [
            {"path": "messages:default", "args": {}},
            {"path": "values:echo", "args": [{"value": int64(3)}], "format": ENCODED},
            {"path": "values:echo", "args": {"value": 1.5}, "format": "json"},
            {"path": "failures:app_error", "args": {"data": "bad"}, "format": ENCODED},
            {"path": "x:y", "args": {}},
        ]
    }
    response = post(testapp, "query_batch", body)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 5
    assert results[0]["value"] == "messages default export"
    assert results[1]["value"] == int64(3)
    assert results[2]["value"] == 1.5
    assert results[3]["status"] == "error" and results[3]["errorData"] == "bad"
    assert results[4]["status"] == "error"
    assert error_detail(results[4]) == "Could not find public function for 'x:y'."


def test_get_query(testapp: RunningServer) -> None:
    response = HTTP.get(
        testapp.url + "/api/query",
        params={"path": "values:echo", "args": '{"value": {"n": [1, 2]}}'},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["value"] == {"n": [1, 2]}
    response = HTTP.get(testapp.url + "/api/query", params={"path": "values:specials"}, timeout=10)
    _assert_clean_specials(response.json()["value"])
    response = HTTP.get(
        testapp.url + "/api/query", params={"path": "values:specials", "format": ENCODED}, timeout=10
    )
    assert response.json()["value"] == SPECIALS_ENCODED
    response = HTTP.get(testapp.url + "/api/query", params={"path": "messages:send", "args": "{}"}, timeout=10)
    assert response.json()["status"] == "error"


def test_version_and_root(testapp: RunningServer) -> None:
    response = HTTP.get(testapp.url + "/version", timeout=10)
    assert response.status_code == 200
    assert response.text.strip()
    assert response.text.strip()[0].isdigit()
    assert HTTP.get(testapp.url + "/", timeout=10).status_code == 200


def test_cors_preflight(testapp: RunningServer) -> None:
    origin = "http://app.example.com:5173"
    response = HTTP.options(
        testapp.url + "/api/mutation",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization,convex-client",
        },
        timeout=10,
    )
    assert response.status_code in (200, 204), response.text
    h = response.headers
    assert h["access-control-allow-origin"] == origin
    assert h["access-control-allow-credentials"] == "true"
    assert "POST" in h["access-control-allow-methods"]
    allowed = h["access-control-allow-headers"].lower()
    for name in ("content-type", "authorization", "convex-client"):
        assert name in allowed
    # The actual request gets the origin mirrored too.
    response = HTTP.post(
        testapp.url + "/api/query",
        json={"path": "messages:default", "args": {}},
        headers={"Origin": origin},
        timeout=10,
    )
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["access-control-allow-credentials"] == "true"


# -- actions calling functions -----------------------------------------------------


def test_action_calls_queries_mutations_and_actions(testapp: RunningServer) -> None:
    before = value(testapp, "query", "messages:count")
    body = call(testapp, "action", "calls:chain", {"x": 5, "body": f"chain-{uuid.uuid4().hex[:6]}"})
    assert body["status"] == "success", body
    result = body["value"]
    assert result["doubled"] == 10  # internal query
    assert result["message_body"].startswith("chain-")  # internal mutation, then a public query
    assert result["incremented"] == 6  # internal action
    assert result["count"] == before + 1  # the mutation committed before the next query ran
    assert "[LOG] chain started" in body["logLines"]
    assert value(testapp, "query", "messages:count") == before + 1


def test_action_sees_app_error_of_called_function(testapp: RunningServer) -> None:
    body = error(testapp, "action", "calls:chain_error")
    assert body["errorData"] == {"from": "inner"}
