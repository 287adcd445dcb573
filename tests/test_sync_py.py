"""The official PyPI ``convex`` client (0.8.1, Rust core) over the WebSocket
sync protocol (PROTOCOL.md §6) against a real Livebase server running
tests/apps/syncapp.

Each check runs in a child Python process: the client's blocking calls hold
the GIL (PROTOCOL.md §8 item 13), so a hung call could not be interrupted
by pytest's timeout, and the client's Rust threads may crash the
interpreter at exit (the child leaves with ``os._exit``). Inside a check,
every wait on a subscription is bounded (its async iterator under
``asyncio.wait_for``); other writers are other processes or HTTP calls
made before waiting.
"""

from __future__ import annotations

import asyncio
import faulthandler
import json
import math
import os
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.server import REPO, RunningServer, make_project, start_server

CHECK_TIMEOUT_S = 30.0  # in the child, then the parent's timeout
CHILD_TIMEOUT_S = 45.0
# Checks that fail because of known server bugs: {name: reason}.
KNOWN_BUGS: dict[str, str] = {}


@pytest.fixture(scope="module")
def syncapp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    project = make_project(tmp_path_factory.mktemp("syncapp_py"), "syncapp")
    server = start_server(project)
    yield server
    server.stop()


# -- helpers run in the child ----------------------------------------------------------


def _uid() -> str:
    return uuid.uuid4().hex[:10]


def _next(sub: Any, timeout: float = 5.0) -> Any:
    """The subscription's next value, waiting at most ``timeout`` seconds
    (through the async iterator, which doesn't hold the GIL and can be
    cancelled; a cancelled wait makes the client re-create the subscription,
    so a timed-out subscription must not be used again)."""

    async def get() -> Any:
        return await asyncio.wait_for(anext(sub), timeout)

    return asyncio.run(get())


def _until(sub: Any, pred: Callable[[Any], bool], what: str, timeout: float = 5.0) -> Any:
    """Values of ``sub`` until one satisfies ``pred``; returns it."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {what}; values seen: {seen!r}")
        try:
            value = _next(sub, left)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}; values seen: {seen!r}") from None
        seen.append(value)
        if pred(value):
            return value


def _nothing_within(sub: Any, seconds: float) -> Any:
    """None if ``sub`` yields nothing for ``seconds``, else the value."""
    try:
        return {"unexpected value": _next(sub, seconds)}
    except TimeoutError:
        return None


def _http(url: str, kind: str, path: str, args: dict[str, Any]) -> Any:
    body = httpx.post(f"{url}/api/{kind}", json={"path": path, "args": args}, timeout=10).json()
    assert body["status"] == "success", body
    return body["value"]


def _connections(url: str, admin_key: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/api/_admin/connections", headers={"Authorization": f"Convex {admin_key}"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["connections"]


def _python_connection(url: str, admin_key: str, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The server's only Python-client connection, once ``pred`` holds for it
    (sockets of earlier checks may take a moment to be gone, a new one to be
    set up)."""
    deadline = time.monotonic() + 5
    while True:
        found = [c for c in _connections(url, admin_key) if c["client"].startswith("python-")]
        if (len(found) == 1 and pred(found[0])) or time.monotonic() > deadline:
            assert len(found) == 1 and pred(found[0]), found
            return found[0]
        time.sleep(0.05)


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types (float vs int vs ConvexInt64), NaN equal
    to NaN and -0.0 told apart from 0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def _spawn_python(code: str) -> subprocess.Popen[str]:
    """Another process (so it runs while this one blocks in the client)."""
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen[str], timeout: float = 15) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"helper process failed ({process.returncode}):\n{out}\n{err}"
    return out


# -- the checks (each runs in a child process) -------------------------------------------


def check_subscription_sees_another_process(url: str, admin_key: str) -> None:
    from convex import ConvexClient

    channel = f"live-{_uid()}"
    client = ConvexClient(url)
    sub = client.subscribe("messages:list", {"channel": channel})
    assert _next(sub) == []
    # Another process writes with its own ConvexClient (over its WebSocket).
    writer = _spawn_python(
        "import os, sys\n"
        "from convex import ConvexClient\n"
        f"print(ConvexClient({url!r}).mutation('messages:send', {{'channel': {channel!r}, 'body': 'from afar'}}))\n"
        "sys.stdout.flush(); os._exit(0)\n"
    )
    second = _next(sub)
    message_id = _finish(writer).strip()
    assert second == [{"_id": message_id, "body": "from afar"}], (second, message_id)
    # And an HTTP write (made before waiting: this process is single-threaded).
    other_id = _http(url, "mutation", "messages:send", {"channel": channel, "body": "over http"})
    third = _next(sub)
    assert [m["_id"] for m in third] == [message_id, other_id], third
    sub.unsubscribe()


def check_every_value_type(url: str, admin_key: str) -> None:
    from convex import ConvexClient, ConvexError, ConvexInt64

    client = ConvexClient(url)
    value = {
        "null": None,
        "true": True,
        "false": False,
        "int": 3,  # a Python int is sent as a float64 number
        "float": 1.5,
        "neg_zero": -0.0,
        "nan": float("nan"),
        "inf": float("inf"),
        "minus_inf": float("-inf"),
        "int64": ConvexInt64(2**62 + 1),
        "int64_min": ConvexInt64(-(2**63)),
        "int64_max": ConvexInt64(2**63 - 1),
        "string": "héllo ✓ \x00",
        "bytes": b"\x00\x01\xffhi",
        "empty_bytes": b"",
        "array": [1, "x", [True, None], b"\x02"],
        "object": {"a": {"b": 1.25, "c": []}, "d": {}},
    }
    # Numbers come back as floats (Convex float64), int64 as ConvexInt64.
    expected = {
        **value,
        "int": 3.0,
        "array": [1.0, "x", [True, None], b"\x02"],
    }
    for kind, path in (("query", "values:echo"), ("mutation", "values:echo_mutation"), ("action", "values:echo_action")):
        got = getattr(client, kind)(path, {"value": value})
        assert _same(got, expected), (kind, got)
    # What the server's function saw.
    kinds = client.query("values:kinds", {"value": value})
    assert kinds == {
        "null": "null",
        "true": "boolean",
        "false": "boolean",
        "int": "number",
        "float": "number",
        "neg_zero": "number",
        "nan": "number:nan",
        "inf": "number",
        "minus_inf": "number",
        "int64": "int64",
        "int64_min": "int64",
        "int64_max": "int64",
        "string": "string",
        "bytes": "bytes",
        "empty_bytes": "bytes",
        "array": ["number", "string", ["boolean", "null"], "bytes"],
        "object": {"a": {"b": "number", "c": []}, "d": {}},
    }, kinds
    # AppError data reaches ConvexError.data.
    data = {"code": "bad", "n": ConvexInt64(7), "raw": b"\x01"}
    # (A mutation's AppError: see check_failed_mutation_returns_promptly.)
    for kind, path in (("query", "failures:app_error"), ("action", "failures:app_error_action")):
        try:
            getattr(client, kind)(path, {"data": data})
        except ConvexError as e:
            assert _same(e.data, data), (kind, e.data)
        else:
            raise AssertionError(f"{kind} {path} did not raise ConvexError")
    # A plain exception is an Exception with the message, not a ConvexError.
    try:
        client.query("failures:crash", {})
    except ConvexError as e:
        raise AssertionError(f"a plain exception became a ConvexError: {e!r}") from None
    except Exception as e:  # noqa: BLE001 - the client raises plain Exception
        assert "boom in a query" in str(e), str(e)
    else:
        raise AssertionError("failures:crash did not raise")
    # The subscription iterator raises ConvexError too.
    sub = client.subscribe("failures:app_error", {"data": data})
    try:
        _next(sub)
    except ConvexError as e:
        assert _same(e.data, data), e.data
    else:
        raise AssertionError("the failing subscription yielded a value")


def check_failed_mutation_returns_promptly(url: str, admin_key: str) -> None:
    from convex import ConvexClient, ConvexError, ConvexInt64

    channel = f"rescue-{_uid()}"
    client = ConvexClient(url)
    listing = client.subscribe("messages:list", {"channel": channel})
    assert _next(listing) == []
    # A plain error comes back at once.
    started = time.monotonic()
    try:
        client.mutation("failures:no_such_mutation", {})
    except ConvexError as e:
        raise AssertionError(f"a missing function became a ConvexError: {e!r}") from None
    except Exception as e:  # noqa: BLE001 - the client raises plain Exception
        assert "no_such_mutation" in str(e), str(e)
    assert time.monotonic() - started < 2
    # convex 0.8.1 (RequestManager::update_request) completes a mutation that
    # failed with ConvexError data only on the next Transition, as it does a
    # successful one. So that a missing Transition can't hang this check,
    # another process writes to the subscribed channel after rescue_s, which
    # pushes one; returning only then means the server sent none.
    # (PROTOCOL.md §6.6 says this of successful mutations only; Convex's sync
    # worker schedules a Transition after every MutationResponse.)
    rescue_s = 3.0
    rescuer = _spawn_python(
        "import time, httpx\n"
        f"time.sleep({rescue_s})\n"
        f"httpx.post({url + '/api/mutation'!r}, json={{'path': 'messages:send', "
        f"'args': {{'channel': {channel!r}, 'body': 'rescue'}}}}, timeout=10)\n"
    )
    data = {"code": "bad", "n": ConvexInt64(7), "x": 7.5}
    started = time.monotonic()
    try:
        client.mutation("failures:app_error_mutation", {"data": data})
    except ConvexError as e:
        assert _same(e.data, data), e.data
    else:
        raise AssertionError("failures:app_error_mutation did not raise")
    elapsed = time.monotonic() - started
    _finish(rescuer)
    assert elapsed < rescue_s - 1, (
        f"the mutation's ConvexError reached the caller only after {elapsed:.1f}s, when another "
        "client's write pushed a Transition: the server sent no Transition after the failed "
        "MutationResponse"
    )


def check_read_your_writes(url: str, admin_key: str) -> None:
    from convex import ConvexClient

    channel = f"ryw-{_uid()}"
    client = ConvexClient(url)
    listing = client.subscribe("messages:list", {"channel": channel})
    # Slow queries: the Transition carrying a write comes well after the
    # MutationResponse; the Python client returns from mutation() on the
    # next Transition, which must therefore already hold the write.
    slow = [client.subscribe("messages:count_slowly", {"channel": channel, "salt": s}) for s in range(3)]
    for sub in (listing, *slow):
        _next(sub)
    # Another process writes to the same channel all along.
    noise = _spawn_python(
        "import httpx\n"
        "for i in range(25):\n"
        f"    r = httpx.post({url + '/api/mutation'!r}, json={{'path': 'messages:send', "
        f"'args': {{'channel': {channel!r}, 'body': f'noise {{i}}'}}}}, timeout=10)\n"
        "    assert r.json()['status'] == 'success', r.text\n"
    )
    try:
        for i in range(6):
            message_id = client.mutation("messages:send", {"channel": channel, "body": f"mine {i}"})
            # The query is subscribed: query() answers from the client's
            # state, with no round trip.
            current = client.query("messages:list", {"channel": channel})
            assert message_id in [m["_id"] for m in current], (i, message_id, current)
            for salt in range(3):
                counted = client.query("messages:count_slowly", {"channel": channel, "salt": salt})
                assert counted == len(current), f"two queries of one client disagree: {counted} vs {len(current)}"
    finally:
        _finish(noise, timeout=30)
    # A one-shot query of something not subscribed sees the writes too.
    assert client.query("messages:count", {"channel": channel}) == 6 + 25


def check_reconnect_after_drop(url: str, admin_key: str) -> None:
    from convex import ConvexClient

    channel = f"drop-{_uid()}"
    key = f"drop-{_uid()}"
    client = ConvexClient(url)
    listing = client.subscribe("messages:list", {"channel": channel})
    assert _next(listing) == []
    before = _python_connection(url, admin_key, lambda c: c["queries"] == 1)
    # Another process drops every socket while the mutation runs.
    closer = _spawn_python(
        "import json, time, httpx\n"
        "time.sleep(0.15)\n"
        f"r = httpx.post({url + '/api/_admin/connections/close'!r}, headers={{'Authorization': {'Convex ' + admin_key!r}}})\n"
        "print(json.dumps(r.json()))\n"
    )
    started = time.monotonic()
    result = client.mutation("writes:put_slowly", {"key": key, "seconds": 0.4})
    elapsed = time.monotonic() - started
    assert json.loads(_finish(closer)) == {"closed": 1}
    # The mutation's result came back, and it was applied. The Python client
    # opens every socket with a new sessionId (PROTOCOL.md §6.3) and re-sends
    # an unanswered mutation on the new socket, so the server can't tell a
    # re-send from a new request by (sessionId, requestId) (§6.5 rule 7):
    # a mutation in flight during a drop may run twice. What is guaranteed:
    # at least once, and the returned id is one of the stored documents.
    ids = _http(url, "query", "writes:ids", {"key": key})
    assert result in ids, (result, ids)
    assert 1 <= len(ids) <= 2, ids
    # A new socket with a new sessionId, holding the re-added subscription
    # (the mutation may have been answered on the old socket, before the
    # client reconnected).
    _python_connection(url, admin_key, lambda c: c["sessionId"] != before["sessionId"] and c["queries"] == 1)
    # The subscription resumed: a write made now reaches it.
    message_id = _http(url, "mutation", "messages:send", {"channel": channel, "body": "after the drop"})
    _until(listing, lambda v: message_id in [m["_id"] for m in v], "the write made after the drop")
    # The client works normally on the new socket.
    assert client.mutation("writes:put", {"key": key}) in _http(url, "query", "writes:ids", {"key": key})
    assert elapsed < 10, elapsed


def check_unrelated_writes_push_nothing(url: str, admin_key: str) -> None:
    from convex import ConvexClient

    x, y = f"x-{_uid()}", f"y-{_uid()}"
    watcher_x, watcher_y = ConvexClient(url), ConvexClient(url)
    sub_x = watcher_x.subscribe("messages:list", {"channel": x})
    sub_y = watcher_y.subscribe("messages:list", {"channel": y})
    assert _next(sub_x) == []
    assert _next(sub_y) == []
    # Control: the Rust client yields a value for *any* Transition its socket
    # receives, even one that changes nothing (here the one owed to it after
    # its own mutation), so a pushed Transition would be seen below.
    control = ConvexClient(url)
    sub_control = control.subscribe("messages:list", {"channel": x})
    assert _next(sub_control) == []
    control.mutation("writes:put", {"key": f"control-{_uid()}"})
    assert _next(sub_control, 2.0) == []
    # Writes to y: y's watcher sees them, x's watcher gets nothing.
    _http(url, "mutation", "messages:send", {"channel": y, "body": "y1"})
    _until(sub_y, lambda v: len(v) == 1, "the write to y")
    pushed = _nothing_within(sub_x, 0.5)
    assert pushed is None, f"x's subscriber got a value after a write to y: {pushed}"


CHECKS: dict[str, Callable[[str, str], None]] = {
    "subscribe iterator sees another process's mutation": check_subscription_sees_another_process,
    "query, mutation and action with every value type": check_every_value_type,
    "a mutation failing with AppError returns promptly": check_failed_mutation_returns_promptly,
    "read your writes": check_read_your_writes,
    "reconnect after the server drops the socket": check_reconnect_after_drop,
    "unrelated writes push nothing": check_unrelated_writes_push_nothing,
}


def run_check(name: str, url: str, admin_key: str) -> None:
    """Entry point of the child process."""
    code = 1
    # The client's blocking calls hold the GIL, so no Python thread could
    # time them out; faulthandler's watchdog (a C thread) can: it prints
    # every stack and exits.
    faulthandler.dump_traceback_later(CHECK_TIMEOUT_S, exit=True)
    try:
        CHECKS[name](url, admin_key)
        print(f"ok   {name}")
        code = 0
    except BaseException:  # noqa: BLE001 - reported to the parent
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


# -- the tests ---------------------------------------------------------------------------


def _params() -> list[object]:
    return [
        pytest.param(name, marks=pytest.mark.xfail(reason=KNOWN_BUGS[name], strict=True)) if name in KNOWN_BUGS else name
        for name in CHECKS
    ]


@pytest.mark.parametrize("check", _params())
def test_python_convex_client(syncapp: RunningServer, check: str) -> None:
    code = f"from tests.test_sync_py import run_check; run_check({check!r}, {syncapp.url!r}, {syncapp.admin_key!r})"
    try:
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S
        )
    except subprocess.TimeoutExpired as e:
        out, err = (x.decode(errors="replace") if isinstance(x, bytes) else x for x in (e.stdout, e.stderr))
        pytest.fail(f"the check hung for {CHILD_TIMEOUT_S}s:\n--- stdout ---\n{out}\n--- stderr ---\n{err}")
    output = f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    assert result.returncode == 0, output
    assert f"ok   {check}" in result.stdout, output
