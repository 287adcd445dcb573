"""The protocol core shared by ``Client`` and ``AsyncClient``.

One ``ClientCore`` owns one WebSocket at a time and the state that outlives
it (queries, unanswered requests, credentials, the session id). It runs on
a single asyncio event loop: the caller's for ``AsyncClient``, a background
thread's for ``Client``. Every method must be called on that loop.

The socket loop connects, replays the state (Connect, Authenticate, one
ModifyQuerySet re-adding every query, unanswered requests), reads messages
until the socket drops, and reconnects with exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from livebase import __version__
from livebase.client import protocol
from livebase.client.errors import (
    AppErrorResponse,
    AuthError,
    ClientClosed,
    ConnectionLost,
    FunctionError,
    ProtocolViolation,
)
from livebase.client.local_state import Listener, LocalQuery, PendingRequest, QueryResult
from livebase.client.protocol import StateVersion
from livebase.functions.definitions import function_path
from livebase.functions.paths import InvalidPath, canonical_path
from livebase.values import from_json, normalize_value, to_json

log = logging.getLogger("livebase.client")
function_log = logging.getLogger("livebase.client.functions")

INITIAL_BACKOFF_S = 0.1
MAX_BACKOFF_S = 10.0
# The server sends a Ping after 15 s of silence; twice that means it's gone.
INACTIVITY_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Credentials:
    token_type: str  # "User" | "Admin"
    value: str


class _Reconnect(Exception):
    """Drop the current socket and reconnect, with this close reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def encode_args(args: dict[str, Any] | None) -> dict[str, Any]:
    """Check arguments against the value model and encode them for the wire."""
    if args is None:
        return {}
    if not isinstance(args, dict):
        raise TypeError(f"function arguments must be a dict, got {type(args).__name__}")
    return to_json(normalize_value(args, where="args"))


def _query_key(path: str, encoded_args: dict[str, Any]) -> tuple[str, bytes]:
    # A bad path is sent as given: the server reports it as the query's error.
    with contextlib.suppress(InvalidPath):
        path = canonical_path(path)
    return path, orjson.dumps(encoded_args, option=orjson.OPT_SORT_KEYS)


def _function_error(message: Any, error_data: Any, *, has_data: bool, path: str, kind: str, log_lines: list[str]) -> FunctionError:
    text = message if isinstance(message, str) else str(message)
    if has_data:
        try:
            data = from_json(error_data)
        except Exception:  # noqa: BLE001 - undecodable data is still worth showing
            data = error_data
        return AppErrorResponse(text, data, path=path, kind=kind, log_lines=log_lines)
    return FunctionError(text, path=path, kind=kind, log_lines=log_lines)


class _FirstResult:
    """The listener behind a one-shot ``query()``: waits for one result."""

    def __init__(self, future: asyncio.Future[QueryResult], epoch: int) -> None:
        self.future = future
        self.epoch = epoch

    def deliver(self, result: QueryResult) -> None:
        if not self.future.done():
            self.future.set_result(result)

    def end(self, error: Exception | None) -> None:
        if not self.future.done():
            self.future.set_exception(error or ClientClosed("the client was closed"))


class ClientCore:
    def __init__(self, url: str, credentials: Credentials | None = None) -> None:
        self.url = protocol.sync_url(url)
        # One session id for the client's lifetime: the server de-duplicates
        # re-sent mutations by (sessionId, requestId).
        self.session_id = str(uuid.uuid4())
        self.closed = False
        self._credentials = credentials
        # Bumped whenever the credentials change: calls remember the epoch
        # they were made in, so a rejected token fails exactly its own calls.
        self.auth_epoch = 0
        self._auth_waiters: list[asyncio.Future[None]] = []
        self._queries_by_key: dict[tuple[str, bytes], LocalQuery] = {}
        self._queries_by_id: dict[int, LocalQuery] = {}
        self._next_query_id = 0
        self._requests: dict[int, PendingRequest] = {}
        self._next_request_id = 0
        self._connection_count = 0
        self._last_close_reason = "InitialConnect"
        self._max_observed_ts = 0
        self._task: asyncio.Task[None] | None = None
        # Per socket (reset on every connect):
        self._outbox: asyncio.Queue[str] | None = None
        self._ws: ClientConnection | None = None
        self._remote = StateVersion()
        self._query_set_version = 0
        self._identity_version = 0
        self._auth_sent: dict[int, int] = {}  # Authenticate baseVersion -> auth epoch
        self._auth_confirm_at: int | None = None  # identity version that confirms the credentials
        self._synced = False

    # -- public operations (on the core's loop) ------------------------------------

    async def query(self, path: Any, args: dict[str, Any] | None) -> Any:
        path = function_path(path)
        encoded = encode_args(args)
        self._check_open()
        existing = self._queries_by_key.get(_query_key(path, encoded))
        if existing is not None and existing.result is not None:
            # Someone is subscribed: its result is current (it is updated
            # before any of our mutations resolve), so no round trip.
            return existing.result.unwrap()
        future: asyncio.Future[QueryResult] = asyncio.get_running_loop().create_future()
        listener = _FirstResult(future, self.auth_epoch)
        query = self._subscribe(path, encoded, listener)
        try:
            result = await future
        finally:
            self.unsubscribe(query, listener)
        return result.unwrap()

    async def mutation(self, path: Any, args: dict[str, Any] | None) -> Any:
        return await self._request("Mutation", path, args)

    async def action(self, path: Any, args: dict[str, Any] | None) -> Any:
        return await self._request("Action", path, args)

    def subscribe(self, path: Any, args: dict[str, Any] | None, listener: Listener) -> LocalQuery:
        """Add ``listener`` to the query's listeners; it gets the current
        result at once if there is one, then every change."""
        path = function_path(path)
        encoded = encode_args(args)
        self._check_open()
        return self._subscribe(path, encoded, listener)

    def unsubscribe(self, query: LocalQuery, listener: Listener) -> None:
        with contextlib.suppress(ValueError):
            query.listeners.remove(listener)
        if query.listeners or self._queries_by_id.get(query.query_id) is not query:
            return
        del self._queries_by_id[query.query_id]
        del self._queries_by_key[query.key]
        self._modify([protocol.remove_query(query.query_id)])

    async def set_credentials(self, credentials: Credentials | None) -> None:
        """Authenticate as someone else (``None``: nobody); returns once the
        server has confirmed, raises ``AuthError`` if it rejects them."""
        self._check_open()
        self._credentials = credentials
        self.auth_epoch += 1
        # A previous set_auth still waiting is superseded, not failed.
        for earlier in self._auth_waiters:
            if not earlier.done():
                earlier.set_result(None)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._auth_waiters = [waiter]
        self._ensure_running()
        if self._outbox is not None:
            self._send_authenticate()
        await asyncio.shield(waiter)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        error = ClientClosed("the client was closed")
        for request in list(self._requests.values()):
            request.fail(error)
        self._requests.clear()
        for query in list(self._queries_by_id.values()):
            for listener in list(query.listeners):
                listener.end(None)
        self._queries_by_id.clear()
        self._queries_by_key.clear()
        for waiter in self._auth_waiters:
            if not waiter.done():
                waiter.set_exception(error)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 2)

    # -- bookkeeping -------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise ClientClosed("the client is closed")

    def _ensure_running(self) -> None:
        # Connect lazily: an AsyncClient may be built before its loop runs.
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="livebase-client-socket")

    def _subscribe(self, path: str, encoded: dict[str, Any], listener: Listener) -> LocalQuery:
        key = _query_key(path, encoded)
        query = self._queries_by_key.get(key)
        if query is None:
            query = LocalQuery(self._next_query_id, path, key, encoded)
            self._next_query_id += 1
            self._queries_by_key[key] = query
            self._queries_by_id[query.query_id] = query
            self._modify([protocol.add_query(query.query_id, path, encoded)])
        query.listeners.append(listener)
        if query.result is not None:
            listener.deliver(query.result)
        self._ensure_running()
        return query

    def _modify(self, modifications: list[dict[str, Any]]) -> None:
        # Offline changes need no message: the next socket re-adds the whole set.
        if self._outbox is None:
            return
        self._send(protocol.modify_query_set(self._query_set_version, modifications))
        self._query_set_version += 1

    async def _request(self, kind: str, path: Any, args: dict[str, Any] | None) -> Any:
        path = function_path(path)
        encoded = encode_args(args)
        self._check_open()
        request_id = self._next_request_id
        self._next_request_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        # Retrieve the outcome even if the caller gave up waiting.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        request = PendingRequest(request_id, kind, path, protocol.request(kind, request_id, path, encoded), future, self.auth_epoch)
        self._requests[request_id] = request
        self._ensure_running()
        if self._outbox is not None:
            self._send(request.message)
            request.sent = True
        # Shielded: a caller's timeout must not forget the request (it is
        # still re-sent after a reconnect and runs exactly once).
        return await asyncio.shield(future)

    def _send(self, message: dict[str, Any]) -> None:
        assert self._outbox is not None
        self._outbox.put_nowait(protocol.dumps(message))

    def _send_authenticate(self) -> None:
        base = self._identity_version
        creds = self._credentials
        if creds is None:
            self._send(protocol.authenticate(base, "None", None))
        else:
            self._send(protocol.authenticate(base, creds.token_type, creds.value))
        self._auth_sent[base] = self.auth_epoch
        self._identity_version = base + 1
        self._auth_confirm_at = self._identity_version

    # -- the socket loop ---------------------------------------------------------------

    async def _run(self) -> None:
        delay = INITIAL_BACKOFF_S
        while not self.closed:
            try:
                ws = await websockets.connect(
                    self.url,
                    additional_headers={"Convex-Client": f"{protocol.CLIENT_NAME}-{__version__}"},
                    open_timeout=CONNECT_TIMEOUT_S,
                    max_size=None,
                    compression=None,
                )
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - any failure to connect is retried
                log.info("could not connect to %s (%s); retrying in %.1fs", self.url, e, delay)
            else:
                synced = await self._serve(ws)
                if synced:
                    delay = INITIAL_BACKOFF_S
            if self.closed:
                return
            wait = delay * random.uniform(0.5, 1.5)
            delay = min(delay * 2, MAX_BACKOFF_S)
            await asyncio.sleep(wait)

    async def _serve(self, ws: ClientConnection) -> bool:
        """Use one socket until it drops; returns whether it ever synced."""
        outbox: asyncio.Queue[str] = asyncio.Queue()
        writer = asyncio.get_running_loop().create_task(self._write(ws, outbox))
        self._ws = ws
        self._open(outbox)
        reason = "ConnectionClosed"
        try:
            while True:
                try:
                    async with asyncio.timeout(INACTIVITY_TIMEOUT_S):
                        raw = await ws.recv()
                except TimeoutError:
                    reason = "InactiveServer"
                    break
                self._handle(raw)
        except ConnectionClosed as e:
            if e.rcvd is not None and e.rcvd.reason:
                reason = e.rcvd.reason
        except _Reconnect as e:
            reason = e.reason
        except ProtocolViolation as e:
            log.warning("protocol violation from the server: %s", e)
            reason = "ProtocolViolation"
        except Exception:
            # A message we could not apply (e.g. an undecodable value): start
            # over on a fresh socket rather than keep a state we can't trust.
            log.exception("could not apply a message from the server")
            reason = "ClientError"
        finally:
            synced = self._synced
            self._on_socket_closed(reason)
            writer.cancel()
            if not self.closed:
                log.info("connection to %s closed (%s); reconnecting", self.url, reason)
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(ws.close(), 2)
        return synced

    async def _write(self, ws: ClientConnection, outbox: asyncio.Queue[str]) -> None:
        # One writer per socket keeps messages in the order they were queued.
        with contextlib.suppress(Exception):
            while True:
                await ws.send(await outbox.get())

    def _open(self, outbox: asyncio.Queue[str]) -> None:
        """Replay the client's state on a fresh socket (PROTOCOL.md §6.6)."""
        self._outbox = outbox
        self._synced = False
        self._remote = StateVersion()
        self._query_set_version = 0
        self._identity_version = 0
        self._auth_sent = {}
        self._auth_confirm_at = None
        self._send(protocol.connect(self.session_id, self._connection_count, self._last_close_reason, self._max_observed_ts))
        self._connection_count += 1
        if self._credentials is not None or self._auth_waiters_pending():
            self._send_authenticate()
        # Always one ModifyQuerySet (even empty): its Transition tells us the
        # socket is synced and resolves mutations answered on the last one.
        adds = [protocol.add_query(q.query_id, q.path, q.encoded_args) for q in self._queries_by_id.values()]
        self._modify(adds)
        for request in sorted(self._requests.values(), key=lambda r: r.request_id):
            if request.commit_ts is not None:
                continue  # answered; waits for a Transition at its ts
            self._send(request.message)
            request.sent = True

    def _auth_waiters_pending(self) -> bool:
        return any(not w.done() for w in self._auth_waiters)

    def _on_socket_closed(self, reason: str) -> None:
        self._outbox = None
        self._ws = None
        self._synced = False
        self._last_close_reason = reason
        for request in list(self._requests.values()):
            if request.kind == "Action" and request.sent:
                # It may have run: never re-send an action (like the JS client).
                del self._requests[request.request_id]
                request.fail(ConnectionLost(f"the connection was lost while action {request.path} was in flight"))

    # -- server messages -----------------------------------------------------------------

    def _handle(self, raw: str | bytes) -> None:
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise ProtocolViolation(f"the server sent invalid JSON: {e}") from None
        if not isinstance(msg, dict):
            raise ProtocolViolation(f"the server sent a non-object message: {raw[:200]!r}")
        kind = msg.get("type")
        try:
            if kind == "Transition":
                self._on_transition(msg)
            elif kind == "MutationResponse":
                self._on_mutation_response(msg)
            elif kind == "ActionResponse":
                self._on_action_response(msg)
            elif kind == "AuthError":
                self._on_auth_error(msg)
            elif kind == "FatalError":
                log.error("the server reported a fatal error: %s", msg.get("error"))
                raise _Reconnect("FatalError")
            # Ping only resets the inactivity timer; Event and unknown kinds are ignored.
        except (KeyError, TypeError, ValueError) as e:
            raise ProtocolViolation(f"malformed {kind} message ({e!r}): {str(raw)[:300]}") from None

    def _on_transition(self, msg: dict[str, Any]) -> None:
        start = StateVersion.parse(msg["startVersion"])
        end = StateVersion.parse(msg["endVersion"])
        if start != self._remote:
            log.warning("Transition starts at %s but the client is at %s; reconnecting", start, self._remote)
            raise _Reconnect("StartVersionMismatch")
        changed: list[LocalQuery] = []
        for mod in msg["modifications"]:
            query = self._queries_by_id.get(mod.get("queryId"))
            kind = mod["type"]
            if query is None or kind == "QueryRemoved":
                continue  # removed by us since: the result is of no use
            log_lines = mod.get("logLines") or []
            self._log_lines(query.path, log_lines)
            if kind == "QueryUpdated":
                raw = mod["value"]
                result = QueryResult(from_json(raw), None, ("ok", raw))
            elif kind == "QueryFailed":
                has_data = "errorData" in mod and mod["errorData"] is not None
                error = _function_error(
                    mod["errorMessage"], mod.get("errorData"), has_data=has_data, path=query.path, kind="query", log_lines=log_lines
                )
                result = QueryResult(None, error, ("error", mod["errorMessage"], mod.get("errorData")))
            else:
                continue
            if query.update(result):
                changed.append(query)
        self._remote = end
        self._synced = True
        self._max_observed_ts = max(self._max_observed_ts, end.ts)
        # Results first, then the mutations they make visible: when a
        # mutation returns, every subscription already shows its write.
        for query in changed:
            assert query.result is not None
            for listener in list(query.listeners):
                listener.deliver(query.result)
        for request in list(self._requests.values()):
            if request.commit_ts is not None and request.commit_ts <= end.ts:
                del self._requests[request.request_id]
                request.resolve(request.value)
        if self._auth_confirm_at is not None and end.identity >= self._auth_confirm_at:
            self._auth_confirm_at = None
            for waiter in self._auth_waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._auth_waiters = []

    def _answered(self, msg: dict[str, Any], kind: str) -> PendingRequest | None:
        request = self._requests.get(msg["requestId"])
        if request is None or request.kind != kind or request.commit_ts is not None:
            # After a reconnect a late duplicate can't happen on a new
            # socket; anything else is the server's bug, not worth a reconnect.
            log.warning("ignoring a %sResponse for unknown request %s", kind, msg.get("requestId"))
            return None
        return request

    def _on_mutation_response(self, msg: dict[str, Any]) -> None:
        request = self._answered(msg, "Mutation")
        if request is None:
            return
        log_lines = msg.get("logLines") or []
        self._log_lines(request.path, log_lines)
        if msg["success"]:
            request.value = from_json(msg["result"])
            ts = protocol.decode_ts(msg["ts"])
            if ts <= self._remote.ts:
                del self._requests[request.request_id]
                request.resolve(request.value)
            else:
                request.commit_ts = ts
        else:
            del self._requests[request.request_id]
            request.fail(self._error_from_response(msg, request, log_lines))

    def _on_action_response(self, msg: dict[str, Any]) -> None:
        request = self._answered(msg, "Action")
        if request is None:
            return
        log_lines = msg.get("logLines") or []
        self._log_lines(request.path, log_lines)
        del self._requests[request.request_id]
        if msg["success"]:
            request.resolve(from_json(msg["result"]))
        else:
            request.fail(self._error_from_response(msg, request, log_lines))

    @staticmethod
    def _error_from_response(msg: dict[str, Any], request: PendingRequest, log_lines: list[str]) -> FunctionError:
        has_data = "errorData" in msg and msg["errorData"] is not None
        return _function_error(
            msg["result"], msg.get("errorData"), has_data=has_data, path=request.path, kind=request.kind.lower(), log_lines=log_lines
        )

    def _on_auth_error(self, msg: dict[str, Any]) -> None:
        message = str(msg.get("error") or "authentication failed")
        base = msg.get("baseVersion")
        rejected_epoch = self._auth_sent.get(base, self.auth_epoch) if isinstance(base, int) else self.auth_epoch
        if rejected_epoch == self.auth_epoch:
            # The current credentials are bad: drop them, and fail whatever
            # was asked under them and has no answer (the server closes the
            # socket right after an AuthError, so none of it ran).
            error = AuthError(message)
            self._credentials = None
            self.auth_epoch += 1
            for waiter in self._auth_waiters:
                if not waiter.done():
                    waiter.set_exception(error)
            self._auth_waiters = []
            for request in list(self._requests.values()):
                if request.epoch == rejected_epoch and request.commit_ts is None:
                    del self._requests[request.request_id]
                    request.fail(error)
            for query in list(self._queries_by_id.values()):
                for listener in list(query.listeners):
                    if isinstance(listener, _FirstResult) and listener.epoch == rejected_epoch:
                        listener.end(error)
            log.warning("the server rejected the client's credentials: %s", message)
        raise _Reconnect("AuthError")

    @staticmethod
    def _log_lines(path: str, lines: list[str]) -> None:
        if lines and function_log.isEnabledFor(logging.INFO):
            for line in lines:
                function_log.info("%s: %s", path, line)
