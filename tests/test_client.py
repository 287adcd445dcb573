"""``livebase.client`` against real servers over real sockets.

Covers one-shot calls with every value type, errors, live subscriptions,
read-your-writes, consistency under concurrent writes, precise
invalidation, auth, reconnects (a dropped TCP connection, a server
restart) with exactly-once mutations, and the async twin; finally the
examples of docs/client.md are checked against their files and run.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from convex.http_client import ConvexHttpClient
from cryptography.hazmat.primitives.asymmetric import rsa

from livebase import Int64, api
from livebase.client import (
    AppErrorResponse,
    AsyncClient,
    AuthError,
    Client,
    ClientClosed,
    ConnectionLost,
    FunctionError,
)
from livebase.errors import InvalidValue
from livebase.values import to_json
from tests.support.server import REPO, RunningServer, make_project, start_server

pytestmark = pytest.mark.timeout(60)

ISSUER = "https://issuer.clientapp.test"


# -- fixtures --------------------------------------------------------------------


class Issuer:
    """An RSA key pair whose public half the server trusts (via auth_config.py)."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid="k1", alg="RS256", use="sig")
        data = base64.b64encode(json.dumps({"keys": [jwk]}).encode()).decode()
        self.env = {"CLIENTAPP_ISSUER": ISSUER, "CLIENTAPP_JWKS": f"data:application/json;base64,{data}"}

    def token(self, subject: str, lifetime: float = 3600) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": subject, "iat": now, "exp": now + int(lifetime)}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, issuer: Issuer) -> Iterator[RunningServer]:
    running = start_server(make_project(tmp_path_factory.mktemp("clientapp"), "clientapp"), env=issuer.env)
    yield running
    running.stop()


@pytest.fixture
def client(server: RunningServer) -> Iterator[Client]:
    with Client(server.url) as c:
        yield c


@pytest.fixture
def other(server: RunningServer) -> ConvexHttpClient:
    """Another client, the official PyPI one over HTTP, for writes from elsewhere."""
    return ConvexHttpClient(server.url)


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_until(condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def http_query(server: RunningServer, path: str, args: dict[str, Any]) -> Any:
    body = httpx.post(f"{server.url}/api/query", json={"path": path, "args": args, "format": "json"}, timeout=10).json()
    assert body["status"] == "success", body
    return body["value"]


class TcpRelay:
    """A real TCP relay between clients and a server, which a test can make
    deaf (bytes from the server are dropped) or cut (every connection closed)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.deaf = threading.Event()
        self.connections = 0
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                return
            with self._lock:
                self._sockets += [downstream, upstream]
                self.connections += 1
            threading.Thread(target=self._pump, args=(downstream, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, downstream, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_server: bool) -> None:
        try:
            while data := src.recv(65536):
                if not (from_server and self.deaf.is_set()):
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self.listener.close()
        self.cut()


@pytest.fixture
def relay(server: RunningServer) -> Iterator[TcpRelay]:
    r = TcpRelay(server.port)
    yield r
    r.close()


EVERY_TYPE: dict[str, Any] = {
    "null": None,
    "true": True,
    "false": False,
    "int": 42,
    "negative": -7,
    "safe": 2**53,
    "float": 1.5,
    "tiny": 5e-324,
    "nan": math.nan,
    "inf": math.inf,
    "ninf": -math.inf,
    "negzero": -0.0,
    "int64": Int64(2**63 - 1),
    "int64min": Int64(-(2**63)),
    "int64zero": Int64(0),
    "bytes": b"\x00\x01\xfe\xff",
    "nobytes": b"",
    "str": "héllo wörld ✓ 🎉",
    "empty": "",
    "list": [1, "two", [3.5, {"four": Int64(4)}], b"\x05"],
    "nested": {"a": {"b": {"c": [None, True]}}},
    "emptyobj": {},
    "_underscore": "fine on the wire",
}


def same(a: Any, b: Any) -> bool:
    """Equal as Convex values: types included, NaN equal to NaN, -0.0 not 0."""
    return json.dumps(to_json(a), sort_keys=True) == json.dumps(to_json(b), sort_keys=True)


# -- one-shot calls ------------------------------------------------------------------


def test_round_trips_every_value_type(client: Client) -> None:
    for call in (client.query, client.mutation, client.action):
        path = {client.query: "values:echo", client.mutation: "values:echo_mutation", client.action: "values:echo_action"}[call]
        result = call(path, {"value": EVERY_TYPE}, timeout=10)
        assert same(result, EVERY_TYPE), (path, result)
        assert type(result["int64"]) is Int64 and type(result["int"]) is int and type(result["float"]) is float
        assert math.isnan(result["nan"]) and math.copysign(1, result["negzero"]) == -1
    typed = client.query(api.values.typed, {"n": Int64(-5), "x": 2.25, "data": b"\xff"}, timeout=10)
    assert typed == {"n": Int64(-5), "x": 2.25, "data": b"\xff"} and type(typed["n"]) is Int64


def test_paths_as_strings_references_and_default_exports(client: Client) -> None:
    author = unique("paths")
    doc_id = client.mutation(api.messages.send, {"author": author, "body": "by reference"}, timeout=10)
    assert isinstance(doc_id, str)
    assert client.query("messages:by_author", {"author": author}, timeout=10) == ["by reference"]
    assert client.query(api.messages.by_author, {"author": author}, timeout=10) == ["by reference"]
    assert client.query("messages.js:by_author", {"author": author}, timeout=10) == ["by reference"]
    assert client.query("whoami", timeout=10) is None  # the module's default export
    assert client.action("actions:send_and_count", {"author": author, "body": "2"}, timeout=10) >= 2


def test_invalid_arguments_are_refused_before_sending(client: Client) -> None:
    with pytest.raises(InvalidValue, match=r"args\.value.*Int64"):
        client.query("values:echo", {"value": 2**60})
    with pytest.raises(InvalidValue, match=r"\$bad"):
        client.mutation("values:echo_mutation", {"value": {"$bad": 1}})
    with pytest.raises(TypeError, match="dict"):
        client.query("values:echo", ["not", "a", "dict"])  # type: ignore[arg-type]


def test_app_errors_carry_their_data(client: Client, other: ConvexHttpClient) -> None:
    data = {"code": "nope", "n": Int64(3), "raw": b"\x01\x02", "nan": math.nan}
    for call, path in ((client.query, "failures:app_error"), (client.mutation, "failures:app_error_mutation"), (client.action, "failures:app_error_action")):
        with pytest.raises(AppErrorResponse) as caught:
            call(path, {"data": data}, timeout=10)
        assert same(caught.value.data, data)
        assert caught.value.path == path and "Server Error" in caught.value.message
        assert isinstance(caught.value, FunctionError)
    with pytest.raises(AppErrorResponse) as caught:
        client.query("failures:app_error", {"data": "just a string"}, timeout=10)
    assert caught.value.data == "just a string"
    # The failed mutation's insert was rolled back.
    assert http_query_messages(other, "app_error_mutation") == []


def http_query_messages(other: ConvexHttpClient, author: str) -> Any:
    return other.query("messages:by_author", {"author": author})


def test_plain_errors_unknown_functions_and_validation(client: Client) -> None:
    for call, path, text in (
        (client.query, "failures:crash", "boom in a query"),
        (client.mutation, "failures:crash_mutation", "boom in a mutation"),
        (client.action, "failures:crash_action", "boom in an action"),
    ):
        with pytest.raises(FunctionError) as caught:
            call(path, timeout=10)
        assert not isinstance(caught.value, AppErrorResponse)
        assert text in caught.value.message and path in str(caught.value)
    with pytest.raises(FunctionError, match="Could not find public function for 'messages:nope'"):
        client.query("messages:nope", timeout=10)
    with pytest.raises(FunctionError, match="Could not find public function for 'nope:x'"):
        client.mutation("nope:x", timeout=10)
    with pytest.raises(FunctionError, match="messages:clear"):
        client.mutation("messages:clear", timeout=10)  # internal
    with pytest.raises(FunctionError, match="defined as Query"):
        client.mutation("messages:list", timeout=10)
    with pytest.raises(FunctionError, match=r"args\.author.*expected v\.string\(\)"):
        client.query("messages:by_author", {"author": 5}, timeout=10)
    with pytest.raises(FunctionError, match="Invalid function path"):
        client.query("bad path!", timeout=10)
    # The client is still fine after all that.
    assert client.query("values:echo", {"value": 1}, timeout=10) == 1


def test_timeouts_and_closed_clients(server: RunningServer) -> None:
    c = Client(server.url)
    with pytest.raises(TimeoutError):
        c.action("actions:sleep", {"seconds": 2}, timeout=0.2)
    sub = c.subscribe("messages:count")
    assert isinstance(sub.next(timeout=10), int)
    ended = threading.Event()

    def drain() -> None:
        for _ in sub:
            pass
        ended.set()

    threading.Thread(target=drain, daemon=True).start()
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(c.action, "actions:sleep", {"seconds": 3}, timeout=10)
        time.sleep(0.2)
        c.close()
        with pytest.raises(ClientClosed):
            waiting.result(5)
    assert ended.wait(5), "closing the client must end iteration"
    with pytest.raises(ClientClosed):
        c.query("messages:count")
    c.close()  # idempotent


def test_thread_safety(client: Client) -> None:
    author = unique("threads")

    def send(i: int) -> str:
        return client.mutation("messages:send", {"author": author, "body": str(i)}, timeout=20)

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(send, range(80)))
    assert len(set(ids)) == 80
    assert sorted(client.query("messages:by_author", {"author": author}, timeout=10), key=int) == [str(i) for i in range(80)]


# -- subscriptions -----------------------------------------------------------------


def test_subscription_sees_writes_from_another_client(client: Client, other: ConvexHttpClient) -> None:
    author = unique("live")
    with client.subscribe("messages:by_author", {"author": author}) as sub:
        assert sub.next(timeout=10) == []
        other.mutation("messages:send", {"author": author, "body": "one"})
        assert sub.next(timeout=10) == ["one"]
        other.mutation("messages:send", {"author": author, "body": "two"})
        assert sub.next(timeout=10) == ["one", "two"]
        assert sub.value == ["one", "two"]
    with pytest.raises(StopIteration):
        sub.next(timeout=1)


def test_same_query_twice_shares_one_subscription(client: Client, other: ConvexHttpClient) -> None:
    author = unique("shared")
    a = client.subscribe("messages:by_author", {"author": author})
    b = client.subscribe(api.messages.by_author, {"author": author})
    assert a.next(timeout=10) == [] and b.next(timeout=10) == []
    a.close()
    other.mutation("messages:send", {"author": author, "body": "x"})
    assert b.next(timeout=10) == ["x"]  # closing one doesn't end the other
    # A one-shot query reuses the live subscription's current value.
    assert client.query("messages:by_author", {"author": author}, timeout=10) == ["x"]
    b.close()


def test_read_your_writes(client: Client) -> None:
    author = unique("ryw")
    # Slow queries: the Transition lags well behind the MutationResponse.
    slow = [client.subscribe("messages:count_slowly", {"salt": i}) for i in range(4)]
    with client.subscribe("messages:by_author", {"author": author}) as mine:
        assert mine.next(timeout=10) == []
        for s in slow:
            s.next(timeout=10)
        for i in range(5):
            before = slow[0].value
            client.mutation("messages:send", {"author": author, "body": str(i)}, timeout=10)
            # No waiting: the mutation returned, so every result shows it.
            assert mine.value == [str(j) for j in range(i + 1)]
            assert all(s.value > before for s in slow)
    for s in slow:
        s.close()


def test_callbacks(client: Client, other: ConvexHttpClient) -> None:
    author = unique("callbacks")
    updates: list[Any] = []
    errors: list[Exception] = []
    got = threading.Event()

    def on_update(value: Any) -> None:
        updates.append(value)
        got.set()

    def on_error(error: Exception) -> None:
        errors.append(error)
        got.set()

    sub = client.subscribe("failures:fails_above", {"when": 0}, on_update=on_update, on_error=on_error)
    good = client.subscribe("messages:by_author", {"author": author}, on_update=on_update)
    wait_until(lambda: len(updates) + len(errors) >= 2, what="first results")
    other.mutation("messages:send", {"author": author, "body": "hi"})
    wait_until(lambda: ["hi"] in updates and errors, what="the callbacks' update and error")
    last = errors[-1]
    assert all(isinstance(e, AppErrorResponse) for e in errors)
    assert isinstance(last, AppErrorResponse) and last.data["count"] >= 1
    with pytest.raises(AppErrorResponse):
        sub.value  # noqa: B018 - the latest result is the error
    with pytest.raises(TypeError, match="callbacks"):
        sub.next(timeout=1)
    sub.close()
    good.close()


def test_blocking_calls_from_a_callback_are_refused(client: Client) -> None:
    # A callback runs on the client's own thread: waiting there would deadlock.
    errors: list[Exception] = []
    ran = threading.Event()

    def reenter(value: Any) -> None:
        try:
            client.query("messages:count")
        except RuntimeError as e:
            errors.append(e)
        ran.set()

    sub = client.subscribe("messages:count", on_update=reenter)
    assert ran.wait(10)
    sub.close()
    assert errors and "callback" in str(errors[0])


def test_iterator_raises_failed_results_and_goes_on(client: Client, other: ConvexHttpClient) -> None:
    author = unique("fails")
    count = client.query("messages:count", timeout=10)
    with client.subscribe("failures:fails_above", {"when": count}) as sub:
        assert sub.next(timeout=10) == count
        other.mutation("messages:send", {"author": author, "body": "tip over"})
        with pytest.raises(AppErrorResponse) as caught:
            sub.next(timeout=10)
        assert caught.value.data["count"] > count
        other.mutation("messages:send", {"author": author, "body": "again"})
        with pytest.raises(AppErrorResponse):
            sub.next(timeout=10)


def test_concurrent_transfers_never_show_a_broken_sum(server: RunningServer, client: Client) -> None:
    prefix = unique("bank")
    names = [f"{prefix}-{i}" for i in range(5)]
    client.mutation("bank:open_accounts", {"names": names, "balance": 100}, timeout=10)
    seen: list[dict[str, Any]] = []
    sub = client.subscribe("bank:balances", {"prefix": prefix}, on_update=seen.append)

    def transfers(seed: int) -> None:
        with Client(server.url) as mover:
            for i in range(40):
                src, dst = names[(seed + i) % 5], names[(seed + 2 * i + 1) % 5]
                mover.mutation("bank:transfer", {"src": src, "dst": dst, "amount": 1 + (i % 7)}, timeout=20)

    threads = [threading.Thread(target=transfers, args=(seed,)) for seed in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(40)
    final = client.query("bank:balances", {"prefix": prefix}, timeout=10)
    wait_until(lambda: seen and seen[-1] == final, what="the final balances")
    sub.close()
    assert len(seen) >= 3, "transfers should have pushed several results"
    broken = [s for s in seen if len(s) != 5 or sum(s.values()) != 500]
    assert not broken, f"{len(broken)} of {len(seen)} delivered results break the invariant: {broken[:3]}"


def test_unrelated_writes_push_nothing(client: Client, other: ConvexHttpClient) -> None:
    mine, theirs = unique("group"), unique("group")
    with client.subscribe("items:in_group", {"group": mine}) as sub:
        assert sub.next(timeout=10) == []
        for n in range(3):
            other.mutation("items:add", {"group": theirs, "n": n})
        with pytest.raises(TimeoutError):
            sub.next(timeout=0.5)
        other.mutation("items:add", {"group": mine, "n": 7})
        assert sub.next(timeout=10) == [7]


# -- auth ---------------------------------------------------------------------------


def test_set_auth_changes_who_is_asking(client: Client, issuer: Issuer) -> None:
    with client.subscribe("whoami") as who:
        assert who.next(timeout=10) is None
        client.set_auth(issuer.token("ada"), timeout=10)
        # set_auth returned: the server has accepted the token and re-run queries.
        assert who.value == "ada"
        assert client.query("whoami", timeout=10) == "ada"
        client.set_auth(issuer.token("bob"), timeout=10)
        assert who.value == "bob"
        client.clear_auth(timeout=10)
        assert who.value is None
    with Client(client.url, auth=issuer.token("cy")) as c2:
        assert c2.query("whoami", timeout=10) == "cy"


def test_admin_auth(server: RunningServer) -> None:
    with Client(server.url, admin_key=server.admin_key) as admin:
        assert admin.query("values:echo", {"value": 1}, timeout=10) == 1
    with Client(server.url) as c:
        c.set_admin_auth(server.admin_key, timeout=10)
        assert c.query("whoami", timeout=10) is None  # an admin is not a user


def test_rejected_token_raises_auth_error(server: RunningServer, issuer: Issuer) -> None:
    with Client(server.url) as c:
        with pytest.raises(AuthError, match="signature"):
            c.set_auth(issuer.token("x")[:-4] + "AAAA", timeout=3)
        # The bad token is dropped: the client goes on, unauthenticated.
        assert c.query("whoami", timeout=3) is None
        with pytest.raises(AuthError):
            c.set_admin_auth("not-the-key", timeout=3)
    with Client(server.url, auth="garbage") as c:
        # A call made under a rejected token fails (the server never ran it)...
        with pytest.raises(AuthError):
            c.query("whoami", timeout=3)
        # ...and the next one runs unauthenticated.
        assert c.query("whoami", timeout=3) is None


# -- reconnects -----------------------------------------------------------------------


def test_lost_response_is_resent_and_runs_once(server: RunningServer, relay: TcpRelay) -> None:
    key = unique("once")
    with Client(relay.url) as c, c.subscribe("writes:count", {"key": key}) as count:
        assert count.next(timeout=10) == 0
        relay.deaf.set()  # the server's answers are lost from now on
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(c.mutation, "writes:put", {"key": key}, timeout=20)
            wait_until(lambda: http_query(server, "writes:count", {"key": key}) == 1, what="the commit")
            relay.deaf.clear()
            relay.cut()  # the client never saw the MutationResponse: it must re-send
            doc_id = pending.result(20)
        assert relay.connections >= 2
        assert count.value == 1  # resolved after the re-added subscription caught up
        assert http_query(server, "writes:count", {"key": key}) == 1, "the re-sent mutation ran again"
        docs = c.query("writes:keys", {"prefix": key}, timeout=10)
        assert docs == [key]
        assert isinstance(doc_id, str)
        # The subscription goes on delivering on the new socket.
        c.mutation("writes:put", {"key": key}, timeout=10)
        assert count.value == 2


def test_in_flight_action_fails_with_connection_lost(relay: TcpRelay) -> None:
    with Client(relay.url) as c:
        assert c.query("values:echo", {"value": 1}, timeout=10) == 1
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(c.action, "actions:sleep", {"seconds": 3}, timeout=10)
            time.sleep(0.3)
            relay.cut()
            with pytest.raises(ConnectionLost) as caught:
                pending.result(10)
        assert isinstance(caught.value, ConnectionError)
        # Actions sent after the reconnect work.
        assert c.action("values:echo_action", {"value": "after"}, timeout=10) == "after"


def test_server_restart_keeps_subscriptions_and_runs_each_mutation_once(tmp_path: Path) -> None:
    srv = start_server(make_project(tmp_path / "restart", "clientapp"))
    try:
        prefix = unique("restart")
        with Client(srv.url) as c, c.subscribe("writes:keys", {"prefix": prefix}) as keys:
            assert keys.next(timeout=10) == []
            sent: list[str] = []
            stop = threading.Event()
            failures: list[BaseException] = []

            def writer() -> None:
                # Mutations back to back, so that some are in flight when the server goes down.
                try:
                    while not stop.is_set():
                        key = f"{prefix}-{len(sent):04d}"
                        sent.append(key)
                        c.mutation("writes:put", {"key": key}, timeout=30)
                except BaseException as e:  # noqa: BLE001 - reported below
                    failures.append(e)

            thread = threading.Thread(target=writer)
            thread.start()
            wait_until(lambda: len(sent) >= 20, what="mutations before the restart")
            srv.restart()
            at_restart = len(sent)
            wait_until(lambda: len(sent) >= at_restart + 20, timeout=30, what="mutations after the restart")
            stop.set()
            thread.join(30)
            assert not failures, failures
            # The subscription resumed and shows every write exactly once.
            wait_until(lambda: keys.value == sent, timeout=10, what="the subscription to catch up")
            assert http_query(srv, "writes:keys", {"prefix": prefix}) == sent
    finally:
        srv.stop()


# -- the async client ------------------------------------------------------------------


def test_async_round_trips_and_errors(server: RunningServer) -> None:
    async def main() -> None:
        async with AsyncClient(server.url) as c:
            results = await asyncio.gather(
                c.query("values:echo", {"value": EVERY_TYPE}),
                c.mutation("values:echo_mutation", {"value": EVERY_TYPE}),
                c.action("values:echo_action", {"value": EVERY_TYPE}),
            )
            assert all(same(r, EVERY_TYPE) for r in results)
            with pytest.raises(AppErrorResponse) as caught:
                await c.mutation("failures:app_error_mutation", {"data": {"n": Int64(1)}})
            assert caught.value.data == {"n": Int64(1)}
            with pytest.raises(FunctionError, match="boom in an action"):
                await c.action("failures:crash_action")
            with pytest.raises(FunctionError, match="Could not find public function"):
                await c.query("nope:nope")
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(c.action("actions:sleep", {"seconds": 2}), 0.2)
        with pytest.raises(ClientClosed):
            await c.query("messages:count")

    asyncio.run(main())


def test_async_subscriptions_and_read_your_writes(server: RunningServer, other: ConvexHttpClient) -> None:
    author = unique("async")

    async def main() -> None:
        async with AsyncClient(server.url) as c:
            slow = c.subscribe("messages:count_slowly", {"salt": -1})
            async with c.subscribe("messages:by_author", {"author": author}) as sub:
                assert await sub.next(timeout=10) == []
                await asyncio.to_thread(other.mutation, "messages:send", {"author": author, "body": "from http"})
                assert await sub.next(timeout=10) == ["from http"]
                await slow.next(timeout=10)
                for i in range(5):
                    before = slow.value
                    await c.mutation("messages:send", {"author": author, "body": str(i)})
                    assert sub.value == ["from http", *[str(j) for j in range(i + 1)]]
                    assert slow.value > before
                await slow.close()
            # Async callbacks, plain or coroutine functions.
            seen: list[Any] = []
            done = asyncio.Event()

            async def on_update(value: Any) -> None:
                seen.append(value)
                if len(value) == 7:
                    done.set()

            cb = c.subscribe("messages:by_author", {"author": author}, on_update=on_update)
            await c.mutation("messages:send", {"author": author, "body": "last"})
            await asyncio.wait_for(done.wait(), 10)
            await cb.close()
            assert seen[-1][-1] == "last"
            # async for, ended by close().
            other_sub = c.subscribe("messages:count")
            got = []
            async for value in other_sub:
                got.append(value)
                await other_sub.close()
            assert len(got) == 1

    asyncio.run(main())


def test_async_reconnect_resends_lost_mutation_once(server: RunningServer, relay: TcpRelay) -> None:
    key = unique("async-once")

    async def main() -> None:
        async with AsyncClient(relay.url) as c, c.subscribe("writes:count", {"key": key}) as count:
            assert await count.next(timeout=10) == 0
            relay.deaf.set()
            pending = asyncio.create_task(c.mutation("writes:put", {"key": key}))
            deadline = time.monotonic() + 10
            while await asyncio.to_thread(http_query, server, "writes:count", {"key": key}) != 1:
                assert time.monotonic() < deadline, "the mutation never committed"
                await asyncio.sleep(0.02)
            relay.deaf.clear()
            relay.cut()
            await asyncio.wait_for(pending, 20)
            assert count.value == 1
            assert await asyncio.to_thread(http_query, server, "writes:count", {"key": key}) == 1
            # In-flight actions fail; later ones work.
            action = asyncio.create_task(c.action("actions:sleep", {"seconds": 3}))
            await asyncio.sleep(0.3)
            relay.cut()
            with pytest.raises(ConnectionLost):
                await asyncio.wait_for(action, 10)
            assert await c.action("values:echo_action", {"value": 2}) == 2

    asyncio.run(main())


def test_async_auth(server: RunningServer, issuer: Issuer) -> None:
    async def main() -> None:
        async with AsyncClient(server.url) as c, c.subscribe("whoami") as who:
            assert await who.next(timeout=10) is None
            await c.set_auth(issuer.token("eve"))
            assert who.value == "eve"
            await c.clear_auth()
            assert who.value is None

    asyncio.run(main())


# -- docs/client.md ----------------------------------------------------------------------

DOC_PAGE = REPO / "docs" / "client.md"
DOC_EXAMPLES = REPO / "docs" / "examples" / "client"
FENCE = re.compile(r"^```python\n# (docs/examples/client/\S+)\n(.*?)^```$", re.M | re.S)


def test_doc_blocks_are_the_example_files() -> None:
    blocks = {name: body for name, body in FENCE.findall(DOC_PAGE.read_text())}
    files = {p.relative_to(REPO).as_posix(): p for p in DOC_EXAMPLES.rglob("*.py") if "__pycache__" not in p.parts}
    assert files and set(blocks) == set(files), (sorted(blocks), sorted(files))
    for name, body in blocks.items():
        assert body == files[name].read_text(), f"docs/client.md: the block for {name} differs from the file"


@pytest.fixture(scope="module")
def docs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(make_project(tmp_path_factory.mktemp("client-docs"), DOC_EXAMPLES))
    yield running
    running.stop()


EXPECTED_OUTPUT = {
    "quickstart.py": [r"^ada: Hello!$"],
    "subscribe.py": [r"^count went from (\d+) to (\d+)$", r"^next result: \d+$"],
    "callbacks.py": [r"^\d+ messages, newest: bye$"],
    "errors.py": [r"^refused: \{'code': 'missing_author'\}$", r"^failed: Could not find public function for 'messages:nope'\.$"],
    "async_client.py": [r"^count: \d+$"],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_OUTPUT))
def test_doc_examples_run(docs_server: RunningServer, name: str) -> None:
    run = subprocess.run(
        [sys.executable, str(DOC_EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        env={**os.environ, "LIVEBASE_URL": docs_server.url},
    )
    assert run.returncode == 0, run.stderr
    for pattern in EXPECTED_OUTPUT[name]:
        assert re.search(pattern, run.stdout, re.M), f"{name} printed:\n{run.stdout}"
    if name == "subscribe.py":
        before, after = map(int, re.search(EXPECTED_OUTPUT[name][0], run.stdout, re.M).groups())  # type: ignore[union-attr]
        assert after == before + 1
    if name == "async_client.py":
        counts = [int(n) for n in re.findall(r"^count: (\d+)$", run.stdout, re.M)]
        assert counts == sorted(counts) and counts[-1] - counts[0] <= 2
