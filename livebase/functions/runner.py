"""Running functions: lookup, argument checks, transactions, errors, logs.

Queries and mutations run inline on the event loop: their handlers are
synchronous, so a transaction never interleaves with another one on this
node, and no thread hop is paid per call. Actions are coroutines.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from livebase.auth.identity import Identity
from livebase.database.catalog import ENV_INDEX_ID
from livebase.database.database import Database
from livebase.database.errors import OccConflict
from livebase.database.journal import QueryJournal
from livebase.database.read_set import ReadSet
from livebase.database.transaction import Transaction
from livebase.errors import AppError, InvalidValue, LivebaseError
from livebase.functions.context import ActionCtx, MutationCtx, QueryCtx
from livebase.functions.definitions import ACTION, MUTATION, QUERY, FunctionDefinition, kind_title
from livebase.functions.logs import LogCollector, current_collector
from livebase.functions.paths import InvalidPath, canonical_path
from livebase.functions.registry import Registry
from livebase.functions.session_requests import find_session_request, record_session_request
from livebase.functions.time_limit import QUERY_MUTATION_LIMIT_S, arm, disarm
from livebase.persistence.base import SnapshotReader
from livebase.schema.validators import ValidationError
from livebase.values.limits import MAX_FUNCTION_ARGS_SIZE, MAX_FUNCTION_RESULT_SIZE
from livebase.values.model import normalize_value, normalize_value_checked, normalize_value_sized
from livebase.values.sort_key import sort_key
from livebase.values.wire import to_clean_json

log = logging.getLogger("livebase.functions")

_NO_DATA = object()
# Actions may call slow services; Convex allows 10 minutes (Node runtime).
ACTION_LIMIT_S = 600.0


def new_request_id() -> str:
    return os.urandom(8).hex()


@dataclass
class Outcome:
    """The result of one function execution, as the protocol layers need it."""

    request_id: str
    path: str
    kind: str | None = None
    value: Any = None
    error: str | None = None  # the full client-facing message
    error_data: Any = _NO_DATA  # set only for AppError
    error_detail: str | None = None  # unredacted error for the server log
    journal: str | None = None  # a query's journal (paginate() end cursors)
    size: int = 0  # the result's size in bytes
    plain: bool = False  # the value is plain JSON (see normalize_value_checked)
    log_lines: list[str] = field(default_factory=list)
    ts: int = 0  # commit ts of a mutation, snapshot ts of a query
    read_set: ReadSet | None = None
    reads_identity: bool = False
    reads_time: bool = False
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def has_error_data(self) -> bool:
        return self.error_data is not _NO_DATA


class FunctionFailed(Exception):
    """Raised inside an action when a function it called failed."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.error)
        self.outcome = outcome


class FailedCall(Exception):
    """Internal: a failure whose client message is already decided."""

    def __init__(self, message: str, data: Any = _NO_DATA, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data
        # The unredacted text for the server log when ``message`` is redacted.
        self.detail = detail


def record_env_reads(txn: Transaction, env: Any) -> None:
    """Environment variables a function read become part of its read set."""
    for name in env._read:
        if name == "*":
            txn.read_set.add_interval(ENV_INDEX_ID, b"", None)
        else:
            txn.read_set.add_point(ENV_INDEX_ID, sort_key(name))


def _user_frames(exc: BaseException, functions_dir: str | None) -> list[str]:
    lines = []
    for frame in traceback.extract_tb(exc.__traceback__):
        if functions_dir and frame.filename.startswith(functions_dir):
            rel = os.path.relpath(frame.filename, os.path.dirname(functions_dir))
            lines.append(f"    at {frame.name} ({rel}:{frame.lineno})")
    return lines


class FunctionRunner:
    def __init__(
        self,
        db: Database,
        registry: Callable[[], Registry],
        *,
        dev: bool = True,
        env: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self.db = db
        self._registry = registry
        self.dev = dev
        self._env = env or (lambda: {})
        # Hooks for other layers (scheduler, storage) to provide ctx members.
        self.make_scheduler: Callable[[Transaction | None], Any] = lambda txn: None
        self.make_storage_reader: Callable[[Transaction], Any] = lambda txn: None
        self.make_storage_writer: Callable[[Transaction], Any] = lambda txn: None
        self.make_action_storage: Callable[[], Any] = lambda: None
        self.time_limit_s = QUERY_MUTATION_LIMIT_S
        # Executions in progress (the committer writes inline when alone).
        self.active = 0
        self.action_time_limit_s = ACTION_LIMIT_S
        # Called with every finished execution (logs, dashboard).
        self.on_execution: list[Callable[[Outcome], None]] = []

    # -- ctx providers -----------------------------------------------------------

    def env_values(self) -> Mapping[str, str]:
        return self._env()

    def scheduler_for(self, txn: Transaction | None) -> Any:
        return self.make_scheduler(txn)

    def storage_reader(self, txn: Transaction) -> Any:
        return self.make_storage_reader(txn)

    def storage_writer(self, txn: Transaction) -> Any:
        return self.make_storage_writer(txn)

    def storage_for_action(self) -> Any:
        return self.make_action_storage()

    @property
    def registry(self) -> Registry:
        return self._registry()

    # -- errors ------------------------------------------------------------------

    def _header(self, request_id: str) -> str:
        return f"[Request ID: {request_id}] Server Error"

    def _system_message(self, request_id: str, message: str) -> str:
        return f"{self._header(request_id)}\n{message}"

    def _exception_message(self, request_id: str, exc: BaseException) -> tuple[str, Any]:
        """Client message (and error data) for an exception raised by a function."""
        if isinstance(exc, FailedCall):
            return exc.message, exc.data
        if isinstance(exc, AppError):
            try:
                data = normalize_value(exc.data, where="AppError data")
            except InvalidValue:
                data = str(exc.data)
            text = data if isinstance(data, str) else orjson.dumps(to_clean_json(data)).decode()
            return f"{self._header(request_id)}\nUncaught AppError: {text}", data
        if isinstance(exc, FunctionFailed):
            inner = exc.outcome
            return inner.error or self._header(request_id), inner.error_data
        if isinstance(exc, LivebaseError):
            # Our own messages about misuse (bad ids, limits, schema) are
            # always shown: they carry no application secrets.
            frames = _user_frames(exc, self.registry.functions_dir) if self.dev else []
            return "\n".join([self._header(request_id), f"Uncaught {exc.code}: {exc.message}", *frames]), _NO_DATA
        if not self.dev:
            return self._header(request_id), _NO_DATA
        frames = _user_frames(exc, self.registry.functions_dir)
        text = f"Uncaught {type(exc).__name__}: {exc}"
        return "\n".join([self._header(request_id), text, *frames]), _NO_DATA

    def _failed(self, request_id: str, exc: BaseException) -> FailedCall:
        message, data = self._exception_message(request_id, exc)
        detail = None
        if not self.dev and type(exc) not in (FailedCall, AppError, FunctionFailed) and not isinstance(exc, LivebaseError):
            frames = _user_frames(exc, self.registry.functions_dir)
            detail = "\n".join([message, f"Uncaught {type(exc).__name__}: {exc}", *frames])
        return FailedCall(message, data, detail)

    # -- entry points -------------------------------------------------------------

    def resolve(
        self, path: str, kind: str | None, *, internal_ok: bool, request_id: str
    ) -> FunctionDefinition:
        """Find a function, or raise ``FailedCall`` with the client message."""
        canonical = canonical_path(path)
        fn = self.registry.lookup(canonical)
        if fn is None or (fn.internal and not internal_ok):
            what = "function" if internal_ok else "public function"
            raise FailedCall(self._system_message(request_id, f"Could not find {what} for '{canonical}'."))
        if kind is not None and fn.kind != kind:
            raise FailedCall(
                self._system_message(
                    request_id,
                    f"Trying to execute {canonical} as {kind_title(kind)}, but it is defined as {kind_title(fn.kind)}.",
                )
            )
        return fn

    def check_args(self, fn: FunctionDefinition, path: str, args: Any, request_id: str) -> dict[str, Any]:
        if args is None:
            args = {}
        if type(args) is not dict:
            raise FailedCall(
                self._system_message(
                    request_id, f"ArgumentValidationError: arguments of {path} must be an object, got {type(args).__name__}"
                )
            )
        try:
            args, size = normalize_value_sized(args, where="args")
        except InvalidValue as e:
            raise FailedCall(self._system_message(request_id, f"ArgumentValidationError: {e.message}")) from None
        if size > MAX_FUNCTION_ARGS_SIZE:
            raise FailedCall(
                self._system_message(
                    request_id,
                    f"ArgumentValidationError: arguments of {path} are {size} bytes, more than the limit of "
                    f"{MAX_FUNCTION_ARGS_SIZE} bytes",
                )
            )
        if fn.args is not None:
            try:
                args = fn.args.validate(args, where="args", tables=self.db.table_number)
            except ValidationError as e:
                raise FailedCall(
                    self._system_message(request_id, f"ArgumentValidationError in {path}: {e.message}")
                ) from None
        if not fn.accepts_any:
            extra = set(args) - fn.params
            if extra:
                raise FailedCall(
                    self._system_message(
                        request_id,
                        f"ArgumentValidationError: {path} got unexpected argument(s) {', '.join(sorted(extra))}",
                    )
                )
        missing = fn.required_params - set(args)
        if missing:
            raise FailedCall(
                self._system_message(
                    request_id, f"ArgumentValidationError: {path} is missing argument(s) {', '.join(sorted(missing))}"
                )
            )
        return args

    def _check_result(self, fn: FunctionDefinition, path: str, result: Any, outcome: Outcome) -> Any:
        request_id = outcome.request_id
        try:
            value, size, plain = normalize_value_checked(result, where="return value")
            outcome.size = size
            # A returns= validator may turn ints into Int64: then not plain.
            outcome.plain = plain and fn.returns is None
        except InvalidValue as e:
            raise FailedCall(self._system_message(request_id, f"{path} returned an invalid value: {e.message}")) from None
        if size > MAX_FUNCTION_RESULT_SIZE:
            raise FailedCall(
                self._system_message(
                    request_id, f"{path} returned {size} bytes, more than the limit of {MAX_FUNCTION_RESULT_SIZE}"
                )
            )
        if fn.returns is not None:
            try:
                value = fn.returns.validate(value, where="return value", tables=self.db.table_number)
            except ValidationError as e:
                raise FailedCall(self._system_message(request_id, f"ReturnsValidationError in {path}: {e.message}")) from None
        return value

    async def run(
        self,
        path: str,
        args: Any,
        *,
        kind: str | None = None,
        identity: Identity | None = None,
        internal_ok: bool = False,
        request_id: str | None = None,
        idempotency_key: tuple[str, int] | None = None,
        txn_hook: Callable[[Transaction, Any], None] | None = None,
        args_checked: bool = False,
    ) -> Outcome:
        """Run any function by path. ``kind`` (if given) must match its kind.

        ``idempotency_key`` (a WebSocket ``(sessionId, requestId)``) makes a
        mutation run at most once: the key and result are stored in the same
        transaction, and a repeat returns the stored result. ``txn_hook(txn,
        result)`` runs inside a mutation's transaction after its handler
        succeeded (the scheduler marks a job done atomically with it).
        ``args_checked``: the caller already ran ``check_args`` on ``args``.

        Raises ``InvalidPath`` for an unparsable path; every other failure
        is reported in the returned ``Outcome``.
        """
        request_id = request_id or new_request_id()
        started = time.perf_counter()
        canonical = canonical_path(path)
        outcome = Outcome(request_id, canonical)
        self.active += 1
        try:
            fn = self.resolve(canonical, kind, internal_ok=internal_ok, request_id=request_id)
            outcome.kind = fn.kind
            checked = args if args_checked else self.check_args(fn, canonical, args, request_id)
            if fn.kind == QUERY:
                self._run_query(fn, canonical, checked, identity, outcome)
            elif fn.kind == MUTATION:
                await self._run_mutation(fn, canonical, checked, identity, outcome, idempotency_key, txn_hook)
            elif fn.kind == ACTION:
                await self._run_action(fn, canonical, checked, identity, outcome)
            else:
                raise FailedCall(self._system_message(request_id, f"{canonical} can't be called as a function"))
        except FailedCall as f:
            outcome.error = f.message
            outcome.error_data = f.data
            outcome.error_detail = f.detail
        finally:
            self.active -= 1
        return self.finish(outcome, started)

    def finish(self, outcome: Outcome, started: float) -> Outcome:
        """Record how long an execution took and tell the execution hooks
        (logs); for callers that run functions themselves (HTTP actions)."""
        outcome.duration_ms = (time.perf_counter() - started) * 1000
        for hook in self.on_execution:
            try:
                hook(outcome)
            except Exception:
                log.exception("execution hook failed")
        return outcome

    def _execute(self, fn: FunctionDefinition, path: str, ctx: Any, args: dict[str, Any], outcome: Outcome) -> Any:
        """Call a sync handler with log capture; user exceptions become FailedCall."""
        collector = LogCollector()
        token = current_collector.set(collector)
        timer = arm(self.time_limit_s)
        try:
            try:
                result = fn.handler(ctx, **args)
            finally:
                disarm(timer, self.time_limit_s)
        except FailedCall:
            raise
        except Exception as exc:  # user code may raise anything
            raise self._failed(outcome.request_id, exc) from exc
        finally:
            current_collector.reset(token)
            outcome.log_lines = collector.finish()
        return self._check_result(fn, path, result, outcome)

    def run_query_in(
        self,
        txn: Transaction,
        fn: FunctionDefinition,
        path: str,
        args: dict[str, Any],
        identity: Identity | None,
        outcome: Outcome,
        journal: str | None = None,
    ) -> None:
        """Run a query in a given read transaction (the sync layer runs many
        queries in one snapshot this way). ``journal`` is the query journal of
        a previous run to repeat (see ``livebase.database.journal``)."""
        txn.journal = QueryJournal.decode(journal)
        ctx = QueryCtx(self, txn, identity)
        try:
            outcome.value = self._execute(fn, path, ctx, args, outcome)
        finally:
            txn.close()
            record_env_reads(txn, ctx.env)
            outcome.ts = txn.begin_ts
            outcome.journal = txn.journal.encode()
            outcome.read_set = txn.read_set.freeze()
            outcome.reads_identity = ctx.auth.read
            outcome.reads_time = ctx._read_time

    def run_query_at(
        self,
        snapshot: SnapshotReader,
        path: str,
        args: Any,
        identity: Identity | None,
        *,
        request_id: str | None = None,
        journal: str | None = None,
    ) -> Outcome:
        """Run a query at a given snapshot (the caller closes it), so several
        queries see exactly the same data. Every failure is in the outcome."""
        request_id = request_id or new_request_id()
        started = time.perf_counter()
        outcome = Outcome(request_id, path, QUERY)
        try:
            canonical = canonical_path(path)
            outcome.path = canonical
            internal_ok = identity is not None and identity.may_call_internal
            fn = self.resolve(canonical, QUERY, internal_ok=internal_ok, request_id=request_id)
            checked = self.check_args(fn, canonical, args, request_id)
            self.run_query_in(self.db.begin_read(snapshot), fn, canonical, checked, identity, outcome, journal)
        except FailedCall as f:
            outcome.error = f.message
            outcome.error_data = f.data
            outcome.error_detail = f.detail
            outcome.ts = snapshot.ts
        except InvalidPath as e:
            outcome.error = self._system_message(request_id, e.message)
            outcome.ts = snapshot.ts
        return self.finish(outcome, started)

    def _run_query(self, fn: FunctionDefinition, path: str, args: dict[str, Any], identity: Identity | None, outcome: Outcome) -> None:
        self.run_query_in(self.db.begin_read(), fn, path, args, identity, outcome)

    async def _run_mutation(
        self,
        fn: FunctionDefinition,
        path: str,
        args: dict[str, Any],
        identity: Identity | None,
        outcome: Outcome,
        idempotency_key: tuple[str, int] | None = None,
        txn_hook: Callable[[Transaction, Any], None] | None = None,
    ) -> None:
        def body(txn: Transaction) -> Any:
            if idempotency_key is not None:
                done = find_session_request(txn, *idempotency_key)
                if done is not None:
                    outcome.log_lines = list(done.get("logLines", []))
                    return done.get("result")
            ctx = MutationCtx(self, txn, identity)
            try:
                result = self._execute(fn, path, ctx, args, outcome)
            finally:
                record_env_reads(txn, ctx.env)
            if txn_hook is not None:
                txn_hook(txn, result)
            if idempotency_key is not None:
                record_session_request(txn, *idempotency_key, result, outcome.log_lines)
            return result

        try:
            outcome.value, outcome.ts = await self.db.run_in_transaction(body)
        except OccConflict as e:
            raise FailedCall(self._system_message(outcome.request_id, e.message)) from None
        except LivebaseError as e:
            raise FailedCall(self._system_message(outcome.request_id, f"{e.code}: {e.message}")) from None

    async def _run_action(self, fn: FunctionDefinition, path: str, args: dict[str, Any], identity: Identity | None, outcome: Outcome) -> None:
        ctx = ActionCtx(self, identity, time.time() * 1000.0)
        collector = LogCollector()
        token = current_collector.set(collector)
        deadline = asyncio.timeout(self.action_time_limit_s)
        try:
            async with deadline:
                result = await fn.handler(ctx, **args)
        except TimeoutError as exc:
            if not deadline.expired():
                raise self._failed(outcome.request_id, exc) from exc
            raise FailedCall(
                self._system_message(
                    outcome.request_id, f"Action timed out: it ran longer than the limit of {self.action_time_limit_s:g} s"
                )
            ) from None
        except Exception as exc:
            raise self._failed(outcome.request_id, exc) from exc
        finally:
            current_collector.reset(token)
            outcome.log_lines = collector.finish()
        outcome.value = self._check_result(fn, path, result, outcome)

    async def call_from_action(self, kind: str, path: str, args: Any, identity: Identity | None) -> Any:
        """``ctx.run_query`` & co: run and return the value, or raise."""
        outcome = await self.run(path, args, kind=kind, identity=identity, internal_ok=True)
        parent = current_collector.get()
        if parent is not None:
            for line in outcome.log_lines:
                parent.lines.append(line)
        if outcome.ok:
            return outcome.value
        if outcome.has_error_data:
            raise AppError(outcome.error_data)
        raise FunctionFailed(outcome)
