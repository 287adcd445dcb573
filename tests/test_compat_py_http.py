"""The official PyPI ``convex`` package (0.8.1): its ``ConvexHttpClient``
against a real Livebase server running tests/apps/testapp."""

from __future__ import annotations

import math
import uuid

import pytest
from convex import ConvexError, ConvexInt64
from convex.http_client import ConvexExecutionError, ConvexHttpClient

from tests.support.server import RunningServer


@pytest.fixture
def client(testapp: RunningServer) -> ConvexHttpClient:
    return ConvexHttpClient(testapp.url)


def test_query_mutation_action(client: ConvexHttpClient) -> None:
    author = f"py-{uuid.uuid4().hex[:8]}"
    doc_id = client.mutation("messages:send", {"author": author, "body": "from the python client"})
    assert isinstance(doc_id, str) and doc_id
    mine = [m for m in client.query("messages:list") if m["author"] == author]
    assert len(mine) == 1
    assert mine[0]["_id"] == doc_id
    assert mine[0]["body"] == "from the python client"
    assert isinstance(mine[0]["_creationTime"], float)
    assert client.query("calls:get_message", {"id": doc_id})["author"] == author
    assert client.action("values:echo_action", {"value": "act"}) == "act"
    assert client.mutation("values:echo_mutation", {"value": 2.5}) == 2.5


def test_integral_numbers_come_back_as_floats(client: ConvexHttpClient) -> None:
    # convex/values.py json_to_convex accepts JSON floats only: the server
    # must send integral numbers as `42.0`, never `42`.
    before = client.query("messages:count")
    # Numbers come back as float64, like from Convex.
    assert isinstance(before, float)
    client.mutation("messages:send", {"author": "py", "body": "count me"})
    assert client.query("messages:count") == before + 1
    assert client.query("values:echo", {"value": 5}) == 5.0
    assert client.query("values:echo", {"value": [0.0, 1.0, -3.0]}) == [0.0, 1.0, -3.0]
    assert client.action("calls:chain", {"x": 2.0, "body": "py chain"})["doubled"] == 4.0


def test_paths(client: ConvexHttpClient) -> None:
    assert client.query("messages") == "messages default export"
    assert client.query("nested/deep") == "nested default export"
    assert client.query("nested/deep:hello", {"name": "py"}) == "hello py from nested/deep"
    assert client.query("messages.js:default") == "messages default export"
    assert client.query("nested/deep.js:hello", {"name": "js"}) == "hello js from nested/deep"


@pytest.mark.parametrize(
    "sent",
    [
        ConvexInt64(0),
        ConvexInt64(-1),
        ConvexInt64(2**63 - 1),
        ConvexInt64(-(2**63)),
        b"",
        bytes(range(256)),
        1.5,
        -2.25,
        0.0,
        1.0,
        -3.0,
        2.0**53,
        float("inf"),
        float("-inf"),
        1e-300,
        "unicode ✓ 日本 🎉",
        "",
        None,
        True,
        False,
        [1.5, [2.5, [ConvexInt64(3), {"b": b"\x00"}]]],
        {"nested": {"deep": {"x": [None, {"y": ConvexInt64(5)}]}}, "empty": {}, "arr": []},
    ],
    ids=repr,
)
@pytest.mark.parametrize("kind", ["query", "mutation", "action"])
def test_values_round_trip(client: ConvexHttpClient, kind: str, sent: object) -> None:
    path = {"query": "values:echo", "mutation": "values:echo_mutation", "action": "values:echo_action"}[kind]
    got = getattr(client, kind)(path, {"value": sent})
    assert got == sent
    assert type(got) is type(sent)


def test_special_floats(client: ConvexHttpClient) -> None:
    got = client.query("values:echo", {"value": [float("nan"), -0.0, float("inf"), float("-inf")]})
    assert math.isnan(got[0])
    assert got[1] == 0.0 and math.copysign(1.0, got[1]) == -1.0
    assert got[2] == math.inf and got[3] == -math.inf


def test_python_int_is_a_float64_number(client: ConvexHttpClient) -> None:
    # The client sends a plain int as float64; the server must see a number.
    assert client.query("values:describe", {"value": 5}) == "number"
    assert client.query("values:describe", {"value": ConvexInt64(5)}) == "int64"



def test_server_values(client: ConvexHttpClient) -> None:
    got = client.query("values:specials")
    assert got["max"] == ConvexInt64(2**63 - 1) and isinstance(got["max"], ConvexInt64)
    assert got["min"] == ConvexInt64(-(2**63))
    assert got["zero"] == ConvexInt64(0)
    assert math.isnan(got["nan"])
    assert got["inf"] == math.inf and got["ninf"] == -math.inf
    assert math.copysign(1.0, got["negzero"]) == -1.0
    assert got["bytes"] == b"\x00\x01\xfe\xff"
    assert got["float"] == 1.5 and got["int"] == 42.0 and isinstance(got["int"], float)
    assert got["unicode"] == "héllo wörld ✓ 🎉"


def test_typed_validators(client: ConvexHttpClient) -> None:
    args = {
        "i": ConvexInt64(7),
        "f": 2.5,
        "n": 3.5,
        "b": b"\x01",
        "s": "s",
        "z": None,
        "t": True,
        "a": [1.5],
        "o": {"x": "y"},
    }
    got = client.query("values:typed", args)
    assert got["i"] == ConvexInt64(7) and got["b"] == b"\x01" and got["o"] == {"x": "y"}


def test_convex_error_with_data(client: ConvexHttpClient) -> None:
    with pytest.raises(ConvexError) as info:
        client.query("failures:app_error", {"data": {"code": "NOT_FOUND", "n": ConvexInt64(3)}})
    # convex 0.8.1's HTTP client hands out errorData as received (still
    # encoded): that is the client's behaviour, the data is intact.
    assert info.value.data == {"code": "NOT_FOUND", "n": {"$integer": "AwAAAAAAAAA="}}
    # A string payload is the message itself (convex/http_client.py).
    with pytest.raises(ConvexError) as info:
        client.mutation("failures:app_error_mutation", {"data": "plain message"})
    assert info.value.data == "plain message"
    assert str(info.value) == "plain message"
    with pytest.raises(ConvexError) as info:
        client.action("failures:app_error_action", {"data": ["a", None, 0.5]})
    assert info.value.data == ["a", None, 0.5]


def test_plain_errors(client: ConvexHttpClient) -> None:
    with pytest.raises(ConvexExecutionError, match=r"Uncaught ValueError: boom: the secret is 42"):
        client.query("failures:crash")
    with pytest.raises(ConvexExecutionError, match=r"Server Error\nUncaught ValueError: action boom"):
        client.action("failures:crash_action")
    with pytest.raises(ConvexExecutionError, match=r"Could not find public function for 'messages:nope'\."):
        client.query("messages:nope")
    with pytest.raises(ConvexExecutionError, match="as Mutation, but it is defined as Query"):
        client.mutation("messages:count")
    with pytest.raises(ConvexExecutionError, match=r"args\.author"):
        client.mutation("messages:send", {"author": 1.0, "body": "x"})


def test_plain_errors_redacted_by_serve(testapp_serve: RunningServer) -> None:
    client = ConvexHttpClient(testapp_serve.url)
    with pytest.raises(ConvexExecutionError) as info:
        client.query("failures:crash")
    assert str(info.value).endswith("] Server Error")
    assert "boom" not in str(info.value)


def test_admin_auth(testapp: RunningServer, client: ConvexHttpClient) -> None:
    with pytest.raises(ConvexExecutionError, match="Could not find public function"):
        client.query("calls:secret_double", {"x": 1.25})
    client.set_admin_auth(testapp.admin_key)
    assert client.query("calls:secret_double", {"x": 1.25}) == 2.5
    assert client.action("calls:secret_action", {"x": 1.25}) == 2.25
    doc_id = client.mutation("calls:secret_send", {"body": "admin via py"})
    assert client.query("calls:get_message", {"id": doc_id})["author"] == "internal"
    client.clear_auth()
    with pytest.raises(ConvexExecutionError):
        client.query("calls:secret_double", {"x": 1.25})


def test_bad_admin_key_and_user_token(client: ConvexHttpClient) -> None:
    client.set_admin_auth("not-the-key")
    with pytest.raises(Exception, match=r"^401 BadAdminKey: "):
        client.query("messages:count")
    # No auth providers are configured, so a user token is refused (401).
    client.set_auth("header.payload.signature")
    with pytest.raises(Exception, match=r"^401 "):
        client.query("messages:count")
    client.clear_auth()
    assert client.query("messages") == "messages default export"
