"""The reactive core: subscriptions, re-runs on commit, Transitions.

The committer tells the engine which index keys every published commit
wrote. The subscription index turns those into the query instances whose
read sets contain them; those are re-run together at one snapshot whose
timestamp equals the latest published commit, and every affected client
gets one Transition carrying all its changed results at that timestamp.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import orjson

from livebase.auth.identity import Identity
from livebase.database.committer import CommitEntry
from livebase.database.errors import CommitFailed
from livebase.functions.definitions import ACTION, MUTATION, QUERY
from livebase.functions.paths import InvalidPath, canonical_path
from livebase.functions.runner import Outcome, new_request_id
from livebase.functions.session_requests import prune_session_requests
from livebase.sync import protocol
from livebase.sync.protocol import ProtocolError, StateVersion
from livebase.sync.query_cache import QueryCache, QueryInstance, args_key
from livebase.sync.session import Session
from livebase.sync.subscription_index import SubscriptionIndex
from livebase.values.wire import from_json, to_json

if TYPE_CHECKING:
    from livebase.server.app import LivebaseApp

log = logging.getLogger("livebase.sync")

# Silence after which a client gets a Ping (Convex's value; the Python client
# drops a socket silent for 30 s). LIVEBASE_SYNC_PING_S changes it (tests).
PING_INTERVAL_S = float(os.environ.get("LIVEBASE_SYNC_PING_S", "15"))
# Distinct HTTP queries remembered for the cache's admission filter.
SEEN_QUERIES = 10_000
PRUNE_INTERVAL_S = 600.0
# Like token verification's clock leeway: a token is good a little past exp.
TOKEN_EXPIRY_LEEWAY_S = 10.0
# Yield to the event loop after this much re-running, so one big flush
# doesn't stall mutations and other clients.
FLUSH_SLICE_S = 0.005


def ws_request_id(session_id: str | None, request_id: int) -> str:
    return hashlib.sha256(f"{session_id}|{request_id}".encode()).hexdigest()[:16]


class SyncEngine:
    def __init__(self, app: LivebaseApp) -> None:
        self.app = app
        self.db = app.db
        self.runner = app.runner
        self.index = SubscriptionIndex()
        self.cache = QueryCache(self.index)
        self.sessions: set[Session] = set()
        self._needs_run: set[QueryInstance] = set()
        self._pending_sessions: set[Session] = set()
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._seen: OrderedDict[tuple[str, bytes, str | None], None] = OrderedDict()
        self.db.committer.listeners.append(self.on_commits)
        app.on_reload.append(lambda _registry: self.on_reload())

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._worker is None:
            self._worker = loop.create_task(self._run())
            self._ticker = loop.create_task(self._keepalive())

    async def stop(self) -> None:
        for task in (self._worker, self._ticker):
            if task is not None:
                task.cancel()
        for session in list(self.sessions):
            await session.close(1001, "ServerShutdown")

    @property
    def generation(self) -> int:
        return self.app.registry.generation

    def _wakeup(self) -> None:
        self._wake.set()

    def _spawn(self, coro: Any) -> None:
        """Run a background task, keeping a reference until it finishes."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- invalidation ----------------------------------------------------------------

    def on_commits(self, entries: list[CommitEntry]) -> None:
        affected: set[QueryInstance] = set()
        for entry in entries:
            hit: set[QueryInstance] = set()
            self.index.affected(entry.written_keys, hit)
            for inst in hit:
                if inst.ts < entry.ts:
                    inst.dirty_ts = max(inst.dirty_ts, entry.ts)
                    affected.add(inst)
        for inst in affected:
            if inst.subscribers:
                self._needs_run.add(inst)
            else:
                self.cache.drop(inst)
        if self._needs_run:
            self._wakeup()

    def on_reload(self) -> None:
        """New code: every result may differ; re-run everything subscribed."""
        self.cache.clear()
        for inst in list(self.cache.instances.values()):
            inst.dirty_ts = max(inst.dirty_ts, inst.ts + 1)
            self._needs_run.add(inst)
        self._wakeup()

    # -- the worker ------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sync flush failed")

    async def _snapshot_at_published(self) -> Any:
        committer = self.db.committer
        while True:
            snap = self.db.snapshot()
            if snap.ts <= committer.published_ts:
                return snap
            # The snapshot holds a commit not yet published (so not yet
            # invalidated): wait for its publication, then look again.
            ts = snap.ts
            snap.close()
            try:
                await committer.wait_published(ts)
            except CommitFailed:
                await asyncio.sleep(0.01)

    async def flush(self) -> None:
        snap = await self._snapshot_at_published()
        ts = snap.ts
        try:
            batch, self._needs_run = self._needs_run, set()
            started = time.perf_counter()
            for inst in batch:
                if not inst.subscribers:
                    continue
                if self._run_instance(inst, snap):
                    for session, qids in inst.subscribers.items():
                        session.changed |= qids
                        self._pending_sessions.add(session)
                if time.perf_counter() - started > FLUSH_SLICE_S:
                    await asyncio.sleep(0)
                    started = time.perf_counter()
        finally:
            snap.close()
        sessions, self._pending_sessions = self._pending_sessions, set()
        started = time.perf_counter()
        for session in sessions:
            if time.perf_counter() - started > FLUSH_SLICE_S:
                # A big fan-out must not hold up every other request.
                await asyncio.sleep(0)
                started = time.perf_counter()
            if session.closed:
                continue
            end_ts = self._consistent_ts(session, ts)
            if end_ts is None:
                # Some of its queries still wait for a re-run: next flush.
                self._pending_sessions.add(session)
                self._wakeup()
                continue
            await self._send_transition(session, end_ts)

    @staticmethod
    def _consistent_ts(session: Session, ts: int) -> int | None:
        """The timestamp at which all of a session's results are valid, or
        None if one of them needs a re-run first. A clean result computed at
        t stays valid at every published ts after t: a commit touching it
        would have marked it dirty."""
        end = max(ts, session.version.ts)
        if end < session.min_transition_ts:
            # Its mutation committed after this flush's snapshot: next flush.
            return None
        for inst in session.queries.values():
            if not inst.has_result or inst.is_dirty:
                return None
            if inst.ts > end:
                end = inst.ts
        return end

    def _run_instance(self, inst: QueryInstance, snapshot: Any) -> bool:
        """Run at ``snapshot``; returns whether the visible result changed."""
        try:
            outcome = self.runner.run_query_at(snapshot, inst.path, inst.args, inst.identity, journal=inst.journal)
        except Exception:  # a bug must not wedge every subscriber
            log.exception("re-running %s failed", inst.path)
            outcome = Outcome(new_request_id(), inst.path, QUERY)
            outcome.error = f"[Request ID: {outcome.request_id}] Server Error"
            outcome.ts = snapshot.ts
        changed = inst.set_result(outcome, self.generation)
        self.cache.register(inst, outcome)
        if outcome.journal != inst.journal and outcome.journal is not None:
            self.cache.rekey_journal(inst, outcome.journal)
        if inst.dirty_ts <= inst.ts:
            self._needs_run.discard(inst)
        if inst.reads_identity and inst.key[2] is None:
            self._split_by_identity(inst)
        else:
            self.cache.after_run(inst)
        return changed

    def _split_by_identity(self, inst: QueryInstance) -> None:
        """A shared instance turned out to read ``ctx.auth``: give every
        subscriber with another identity an instance of its own."""
        own = inst.identity.cache_key if inst.identity else "anonymous"
        del self.cache.instances[inst.key]
        specific = (inst.key[0], inst.key[1], own)
        inst.key = specific
        if specific not in self.cache.instances:
            self.cache.instances[specific] = inst
        for session, qids in list(inst.subscribers.items()):
            theirs = session.identity.cache_key if session.identity else "anonymous"
            if theirs == own:
                continue
            for qid in list(qids):
                self._unsubscribe(session, qid)
                self._subscribe(session, qid, inst.path, inst.args, inst.journal)
                session.changed.add(qid)
                self._pending_sessions.add(session)

    async def _send_transition(self, session: Session, ts: int) -> None:
        mods = [protocol.query_removed(qid) for qid in session.removed]
        for qid in session.added | session.changed:
            inst = session.queries.get(qid)
            if inst is not None and inst.has_result:
                mods.append(inst.modification(qid))
        start = session.version
        end = StateVersion(session.received_query_set, session.received_identity, max(ts, start.ts))
        session.version = end
        session.added.clear()
        session.removed.clear()
        session.changed.clear()
        session.force_transition = False
        await session.send(protocol.transition(start, end, mods))

    def _request_transition(self, session: Session) -> None:
        session.force_transition = True
        self._pending_sessions.add(session)
        self._wakeup()

    # -- subscriptions -----------------------------------------------------------------

    def _subscribe(
        self, session: Session, qid: int, path: str, args: dict[str, Any], journal: str | None = None
    ) -> None:
        identity = session.identity
        akey = args_key(args, journal)
        inst = self.cache.find(path, akey, identity)
        if inst is None or (not inst.valid_now(self.generation) and not inst.subscribers):
            if inst is not None:
                self.cache.drop(inst)
            inst = self.cache.create(path, args, akey, identity, journal)
        self.cache.unidle(inst)
        inst.subscribers.setdefault(session, set()).add(qid)
        session.queries[qid] = inst
        if not inst.has_result or inst.is_dirty or inst.generation != self.generation:
            self._needs_run.add(inst)

    def _unsubscribe(self, session: Session, qid: int) -> None:
        inst = session.queries.pop(qid, None)
        if inst is None:
            return
        qids = inst.subscribers.get(session)
        if qids is not None:
            qids.discard(qid)
            if not qids:
                del inst.subscribers[session]
        if not inst.subscribers:
            self._needs_run.discard(inst)
            if inst.valid_now(self.generation):
                self.cache.touch_idle(inst)
            else:
                self.cache.drop(inst)

    def _failed_query(self, session: Session, qid: int, message: str) -> None:
        """A query that can't even be instantiated (bad path or args)."""
        key = ("<invalid>", str(id(session)).encode() + b"/" + str(qid).encode(), None)
        inst = QueryInstance(key, "<invalid>", {}, None)
        outcome = Outcome(new_request_id(), "<invalid>", QUERY)
        outcome.error = message
        inst.set_result(outcome, self.generation)
        inst.dirty_ts = -1
        session.queries[qid] = inst

    # -- HTTP query cache ----------------------------------------------------------------

    def cached_query(self, path: str, akey: bytes, identity: Identity | None, request_id: str) -> Outcome | None:
        """A valid cached result of ``path`` with arguments key ``akey`` (see
        ``args_key``), as an outcome, or None."""
        inst = self.cache.find(path, akey, identity)
        if inst is not None and inst.valid_now(self.generation):
            if not inst.subscribers:
                self.cache.touch_idle(inst)
            return inst.outcome(request_id)
        return None

    def remember_query(
        self, path: str, args: dict[str, Any], akey: bytes, identity: Identity | None, outcome: Outcome
    ) -> None:
        """Cache an HTTP query's result if it is valid at a published timestamp."""
        if outcome.read_set is None or outcome.ts > self.db.committer.published_ts:
            return
        # Admission: cache a query the second time it is asked, so one-off
        # queries don't pay for caching nor push useful entries out.
        seen_key = (path, akey, identity.cache_key if identity else None)
        if seen_key not in self._seen:
            self._seen[seen_key] = None
            if len(self._seen) > SEEN_QUERIES:
                self._seen.popitem(last=False)
            return
        existing = self.cache.find(path, akey, identity)
        if existing is not None and (existing.subscribers or existing.valid_now(self.generation)):
            return
        inst = self.cache.create(path, args, akey, identity)
        inst.set_result(outcome, self.generation, encode=False)
        self.cache.register(inst, outcome)
        self.cache.after_run(inst)
        self.cache.touch_idle(inst)

    # -- the socket --------------------------------------------------------------------

    def connect(self, session: Session) -> None:
        self.sessions.add(session)
        self.start()

    async def disconnect(self, session: Session) -> None:
        session.closed = True
        self.sessions.discard(session)
        self._pending_sessions.discard(session)
        for qid in list(session.queries):
            self._unsubscribe(session, qid)
        # Queued mutations are dropped (the client re-sends them); one already
        # running finishes, so its commit is logged like any other.
        session.mutations.clear()
        if session.expiry_timer is not None:
            session.expiry_timer.cancel()

    async def handle(self, session: Session, text: str) -> None:
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError as e:
            raise ProtocolError(f"message is not valid JSON: {e}") from None
        if not isinstance(msg, dict):
            raise ProtocolError("a message must be a JSON object")
        kind = msg.get("type")
        if session.session_id is None and kind != "Connect":
            raise ProtocolError(f"the first message must be Connect, got {kind!r}")
        if kind == "Connect":
            self._on_connect(session, msg)
        elif kind == "ModifyQuerySet":
            self._on_modify(session, msg)
        elif kind == "Mutation":
            self._on_mutation(session, msg)
        elif kind == "Action":
            self._on_action(session, msg)
        elif kind == "Authenticate":
            await self._on_authenticate(session, msg)
        elif kind == "Event":
            return
        else:
            raise ProtocolError(f"unknown message type {kind!r}")

    def _on_connect(self, session: Session, msg: dict[str, Any]) -> None:
        if session.session_id is not None:
            raise ProtocolError("Connect was sent twice on one socket")
        session.session_id = protocol.require(msg, "sessionId", str, "Connect")
        observed = msg.get("maxObservedTimestamp")
        if observed is not None:
            protocol.decode_ts(observed)

    def _on_modify(self, session: Session, msg: dict[str, Any]) -> None:
        base = protocol.require_u32(msg, "baseVersion", "ModifyQuerySet")
        new = protocol.require_u32(msg, "newVersion", "ModifyQuerySet")
        if base != session.received_query_set:
            raise ProtocolError(
                f"ModifyQuerySet baseVersion {base} does not match the current query set version "
                f"{session.received_query_set} (BaseVersionMismatch)"
            )
        if new <= base:
            raise ProtocolError(f"ModifyQuerySet newVersion {new} must be greater than baseVersion {base}")
        mods = protocol.require(msg, "modifications", list, "ModifyQuerySet")
        for mod in mods:
            if not isinstance(mod, dict):
                raise ProtocolError("each modification must be an object")
            qid = protocol.require_u32(mod, "queryId", "ModifyQuerySet modification")
            if mod.get("type") == "Add":
                if qid in session.queries:
                    raise ProtocolError(f"query id {qid} is already in the query set")
                self._add_query(session, qid, mod)
                session.removed.discard(qid)
                session.added.add(qid)
            elif mod.get("type") == "Remove":
                if qid not in session.queries:
                    raise ProtocolError(f"query id {qid} is not in the query set")
                self._unsubscribe(session, qid)
                session.added.discard(qid)
                session.changed.discard(qid)
                session.removed.add(qid)
            else:
                raise ProtocolError(f"unknown modification type {mod.get('type')!r}")
        session.received_query_set = new
        self._request_transition(session)

    def _add_query(self, session: Session, qid: int, mod: dict[str, Any]) -> None:
        request_id = new_request_id()
        raw_path = mod.get("udfPath")
        try:
            path = canonical_path(raw_path)
        except InvalidPath as e:
            self._failed_query(session, qid, f"[Request ID: {request_id}] Server Error\n{e.message}")
            return
        component = mod.get("componentPath")
        if component not in (None, ""):
            self._failed_query(session, qid, f"[Request ID: {request_id}] Server Error\nLivebase has no components")
            return
        try:
            args = _decode_args(mod.get("args"))
        except ProtocolError as e:
            self._failed_query(session, qid, f"[Request ID: {request_id}] Server Error\n{e.message}")
            return
        journal = mod.get("journal")
        self._subscribe(session, qid, path, args, journal if isinstance(journal, str) else None)

    # -- mutations and actions --------------------------------------------------------------

    def _on_mutation(self, session: Session, msg: dict[str, Any]) -> None:
        protocol.require_u32(msg, "requestId", "Mutation")
        session.mutations.append(msg)
        if session.mutation_task is None or session.mutation_task.done():
            session.mutation_task = asyncio.get_running_loop().create_task(self._run_mutations(session))

    async def _run_mutations(self, session: Session) -> None:
        # One connection's mutations run one at a time, in the order sent.
        while session.mutations and not session.closed:
            msg = session.mutations.popleft()
            await self._run_one_mutation(session, msg)

    async def _run_one_mutation(self, session: Session, msg: dict[str, Any]) -> None:
        request_id = msg["requestId"]
        rid = ws_request_id(session.session_id, request_id)
        try:
            args = _decode_args(msg.get("args"))
            outcome = await self.runner.run(
                canonical_path(msg.get("udfPath")),
                args,
                kind=MUTATION,
                identity=session.identity,
                internal_ok=_is_admin(session),
                request_id=rid,
                idempotency_key=(session.session_id or "", request_id),
            )
        except (InvalidPath, ProtocolError) as e:
            outcome = _rejected(rid, msg, e)
        await session.send(_response(protocol.mutation_response, request_id, outcome, with_ts=True))
        # MutationResponse first, then a Transition at ts >= its commit ts
        # (also after a failure: some clients settle a call on the next one).
        if outcome.ok:
            session.min_transition_ts = max(session.min_transition_ts, outcome.ts)
        self._request_transition(session)

    def _on_action(self, session: Session, msg: dict[str, Any]) -> None:
        protocol.require_u32(msg, "requestId", "Action")
        self._spawn(self._run_action(session, msg))

    async def _run_action(self, session: Session, msg: dict[str, Any]) -> None:
        request_id = msg["requestId"]
        rid = ws_request_id(session.session_id, request_id)
        try:
            args = _decode_args(msg.get("args"))
            outcome = await self.runner.run(
                canonical_path(msg.get("udfPath")), args, kind=ACTION, identity=session.identity, internal_ok=_is_admin(session), request_id=rid
            )
        except (InvalidPath, ProtocolError) as e:
            outcome = _rejected(rid, msg, e)
        await session.send(_response(protocol.action_response, request_id, outcome, with_ts=False))
        self._request_transition(session)

    # -- auth --------------------------------------------------------------------------

    async def _on_authenticate(self, session: Session, msg: dict[str, Any]) -> None:
        base = protocol.require_u32(msg, "baseVersion", "Authenticate")
        if base != session.received_identity:
            raise ProtocolError(
                f"Authenticate baseVersion {base} does not match the identity version {session.received_identity}"
            )
        token_type = msg.get("tokenType")
        try:
            if token_type == "None":
                identity = None
            elif token_type == "Admin":
                value = protocol.require(msg, "value", str, "Authenticate")
                identity = await self.app.identity_from_header(f"Convex {value}")
                acting = msg.get("impersonating") or msg.get("actingAs")
                if isinstance(acting, dict):
                    identity = Identity.impersonating(acting)
            elif token_type == "User":
                value = protocol.require(msg, "value", str, "Authenticate")
                identity = await self.app.identity_from_token(value)
            else:
                raise ProtocolError(f"unknown tokenType {token_type!r}")
        except ProtocolError:
            raise
        except Exception as e:  # noqa: BLE001 - HttpError(401) and token errors become AuthError
            await session.send(protocol.auth_error(str(e), session.received_identity, True))
            await session.close(1000, "AuthError")
            return
        session.received_identity = base + 1
        old = session.identity
        session.identity = identity
        self._watch_expiry(session)
        if _cache_key(old) != _cache_key(identity):
            # Every query may depend on who is asking: re-resolve them all.
            # (A refreshed token for the same user and claims changes nothing.)
            for qid, inst in list(session.queries.items()):
                if inst.path == "<invalid>":
                    continue
                self._unsubscribe(session, qid)
                self._subscribe(session, qid, inst.path, inst.args, inst.journal)
                session.changed.add(qid)
        self._request_transition(session)

    def _watch_expiry(self, session: Session) -> None:
        """Drop a socket whose user token expires without being refreshed
        (AuthError with authUpdateAttempted false, then close)."""
        if session.expiry_timer is not None:
            session.expiry_timer.cancel()
            session.expiry_timer = None
        identity = session.identity
        expires_at = getattr(identity, "expires_at", None)
        if identity is None or expires_at is None:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, expires_at + TOKEN_EXPIRY_LEEWAY_S - time.time())

        def expired() -> None:
            if session.identity is identity and not session.closed:
                self._spawn(self._expire(session))

        session.expiry_timer = loop.call_later(delay, expired)

    async def _expire(self, session: Session) -> None:
        await session.send(protocol.auth_error("Token expired", session.received_identity, False))
        await session.close(1000, "AuthError")

    # -- keepalive ---------------------------------------------------------------------

    async def _keepalive(self) -> None:
        last_prune = 0.0
        while True:
            await asyncio.sleep(PING_INTERVAL_S / 3)
            if time.monotonic() - last_prune > PRUNE_INTERVAL_S:
                last_prune = time.monotonic()
                await self._prune_session_requests()
            self.db.committer.prune()
            cutoff = time.monotonic() - PING_INTERVAL_S
            for i, session in enumerate(list(self.sessions)):
                if session.session_id is not None and session.last_sent < cutoff:
                    await session.send(protocol.PING)
                if i % 200 == 199:
                    await asyncio.sleep(0)  # spread the pings: don't stall commits


    async def _prune_session_requests(self) -> None:
        try:
            while True:
                n, _ = await self.db.run_in_transaction(lambda txn: prune_session_requests(txn, time.time() * 1000))
                if n == 0:
                    return
        except Exception:  # pruning is housekeeping; try again next time
            log.exception("pruning _session_requests failed")


def _cache_key(identity: Identity | None) -> str | None:
    return None if identity is None else identity.cache_key


def _rejected(request_id: str, msg: dict[str, Any], error: InvalidPath | ProtocolError) -> Outcome:
    """A call refused before it ran (bad path or arguments), as an outcome."""
    outcome = Outcome(request_id, str(msg.get("udfPath")))
    outcome.error = f"[Request ID: {request_id}] Server Error\n{error.message}"
    return outcome


def _is_admin(session: Session) -> bool:
    return session.identity is not None and session.identity.may_call_internal


def _decode_args(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, list):
        if not raw:
            return {}
        if len(raw) != 1:
            raise ProtocolError(f"args must be [object], got an array of {len(raw)} elements")
        raw = raw[0]
    if not isinstance(raw, dict):
        raise ProtocolError(f"args must be an object, got {type(raw).__name__}")
    try:
        return from_json(raw)
    except Exception as e:  # noqa: BLE001 - InvalidValue and decoding errors
        raise ProtocolError(f"args could not be decoded: {e}") from None


def _response(build: Any, request_id: int, outcome: Outcome, *, with_ts: bool) -> str:
    if outcome.ok:
        result = protocol.dumps(to_json(outcome.value))
        if with_ts:
            return build(request_id, True, result, outcome.ts, outcome.log_lines)
        return build(request_id, True, result, outcome.log_lines)
    data = protocol.dumps(to_json(outcome.error_data)) if outcome.has_error_data else None
    message = protocol.dumps(outcome.error)
    if with_ts:
        return build(request_id, False, message, None, outcome.log_lines, data)
    return build(request_id, False, message, outcome.log_lines, data)


__all__ = ["SyncEngine"]
