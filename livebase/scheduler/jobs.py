"""Scheduled-function documents (``_scheduled_functions``) and the checks
made when a function is scheduled.

A job document is ``{name, args: [args], scheduledTime, completedTime?,
state: {kind, error?}}`` with ``kind`` one of pending, inProgress,
success, failed, canceled (SEMANTICS.md §6). Everything here runs inside a
caller's transaction, so scheduling from a mutation is atomic with it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from livebase.database.catalog import SCHEDULED_FUNCTIONS
from livebase.database.transaction import Transaction
from livebase.errors import InvalidValue, LivebaseError
from livebase.functions.definitions import (
    ACTION,
    MUTATION,
    FunctionDefinition,
    function_path,
    kind_title,
)
from livebase.functions.paths import InvalidPath, canonical_path
from livebase.functions.registry import Registry
from livebase.schema.validators import ValidationError
from livebase.values.limits import MAX_DOCUMENT_SIZE
from livebase.values.model import normalize_value_sized

PENDING = "pending"
IN_PROGRESS = "inProgress"
SUCCESS = "success"
FAILED = "failed"
CANCELED = "canceled"

# Per function execution (SEMANTICS.md §6).
MAX_SCHEDULED_PER_EXECUTION = 1000
MAX_SCHEDULED_ARGS_TOTAL = 16 << 20
# One job's args must fit in its document with room for the other fields.
MAX_JOB_ARGS = MAX_DOCUMENT_SIZE - (16 << 10)

# The job whose execution is running in this task (set by the executor), so
# that functions scheduled by a canceled running action are canceled too.
current_job: ContextVar[str | None] = ContextVar("livebase_current_job", default=None)


async def finish_or_cancel(tasks: list[asyncio.Task[Any]], grace: float) -> None:
    """Give running tasks ``grace`` seconds, then cancel the rest (and give
    them as long again to wind down)."""
    if not tasks:
        return
    _done, still = await asyncio.wait(tasks, timeout=grace)
    for task in still:
        task.cancel()
    if still:
        await asyncio.wait(still, timeout=grace)


def now_ms() -> float:
    """Wall-clock milliseconds since the epoch (the unit of scheduledTime)."""
    return time.time() * 1000.0


class SchedulerError(LivebaseError):
    """``ctx.scheduler`` was used wrongly; the message says how."""

    code = "InvalidScheduledFunction"


class Budget:
    """What one function execution has scheduled so far (its limits)."""

    __slots__ = ("count", "size")

    def __init__(self) -> None:
        self.count = 0
        self.size = 0

    def charge(self, size: int) -> None:
        if self.count >= MAX_SCHEDULED_PER_EXECUTION:
            raise SchedulerError(
                f"Too many functions scheduled by this function execution (limit: {MAX_SCHEDULED_PER_EXECUTION})",
                code="TooManyFunctionsScheduled",
            )
        if self.size + size > MAX_SCHEDULED_ARGS_TOTAL:
            raise SchedulerError(
                "Too large total size of the arguments of functions scheduled by this function execution "
                f"(limit: {MAX_SCHEDULED_ARGS_TOTAL} bytes)",
                code="ScheduledFunctionsArgumentsTooLarge",
            )
        self.count += 1
        self.size += size


def _path_of(fn: Any) -> str:
    """``function_path``, except that a definition exported from several
    modules (imported into another one) is named by the module defining it."""
    if isinstance(fn, FunctionDefinition) and len(fn.paths) > 1:
        module = fn.handler.__module__.partition(".")[2].replace(".", "/")
        for path in fn.paths:
            if path.rpartition(":")[0] == module:
                return path
    return function_path(fn)


def resolve_target(registry: Registry, fn: Any, where: str) -> tuple[str, FunctionDefinition]:
    """The canonical path and definition of a function to schedule; it must
    exist and be a mutation or an action (public or internal)."""
    try:
        path = canonical_path(_path_of(fn))
    except (TypeError, ValueError, InvalidPath) as e:
        raise SchedulerError(f"{where}: {e}") from None
    definition = registry.lookup(path)
    if definition is None:
        raise SchedulerError(f"{where}: could not find a function named '{path}'")
    if definition.kind not in (MUTATION, ACTION):
        raise SchedulerError(
            f"{where}: '{path}' is a {kind_title(definition.kind).lower()}; "
            "only mutations and actions can be scheduled"
        )
    return path, definition


def check_args(
    definition: FunctionDefinition,
    path: str,
    args: Any,
    tables: Callable[[str], int | None],
    where: str,
) -> tuple[dict[str, Any], int]:
    """Normalized args and their size; raises ``SchedulerError`` naming what
    is wrong (checked now, so the mistake surfaces where it was made)."""
    if args is None:
        args = {}
    if type(args) is not dict:
        raise SchedulerError(f"{where}: the arguments of {path} must be a dict, got {type(args).__name__}")
    try:
        args, size = normalize_value_sized(args, where="args")
    except InvalidValue as e:
        raise SchedulerError(f"{where}: {e.message}", code="ArgumentValidationError") from None
    if size > MAX_JOB_ARGS:
        raise SchedulerError(
            f"{where}: the arguments of {path} are {size} bytes, more than the limit of "
            f"{MAX_JOB_ARGS} bytes for one scheduled function",
            code="ScheduledFunctionsArgumentsTooLarge",
        )
    if definition.args is not None:
        try:
            definition.args.validate(args, where="args", tables=tables)
        except ValidationError as e:
            raise SchedulerError(f"{where}: {path}: {e.message}", code="ArgumentValidationError") from None
    if not definition.accepts_any:
        extra = set(args) - definition.params
        if extra:
            raise SchedulerError(
                f"{where}: {path} got unexpected argument(s) {', '.join(sorted(extra))}",
                code="ArgumentValidationError",
            )
    missing = definition.required_params - set(args)
    if missing:
        raise SchedulerError(
            f"{where}: {path} is missing argument(s) {', '.join(sorted(missing))}",
            code="ArgumentValidationError",
        )
    return args, size


def delay_ms(ms: Any) -> float:
    if isinstance(ms, bool) or not isinstance(ms, int | float) or not math.isfinite(ms):
        raise SchedulerError(f"scheduler.run_after(): the delay must be a number of milliseconds, got {ms!r}")
    if ms < 0:
        raise SchedulerError(f"scheduler.run_after(): the delay must not be negative, got {ms!r}")
    return float(ms)


def timestamp_ms(when: Any) -> float:
    """``run_at``'s time: ms since the epoch (int/float) or an aware datetime."""
    if isinstance(when, datetime):
        if when.tzinfo is None or when.utcoffset() is None:
            raise SchedulerError(
                "scheduler.run_at(): the datetime has no time zone, so the moment it names is ambiguous; "
                "pass an aware datetime such as datetime.now(timezone.utc) + timedelta(minutes=5)"
            )
        return when.timestamp() * 1000.0
    if isinstance(when, bool) or not isinstance(when, int | float) or not math.isfinite(when):
        raise SchedulerError(
            f"scheduler.run_at(): the time must be milliseconds since the epoch or a datetime, got {when!r}"
        )
    return float(when)


def insert_job(txn: Transaction, path: str, args: dict[str, Any], scheduled_ms: float) -> str:
    """Insert a pending job (canceled already if the running job that
    schedules it was canceled)."""
    doc: dict[str, Any] = {"name": path, "args": [args], "scheduledTime": scheduled_ms, "state": {"kind": PENDING}}
    parent = current_job.get()
    if parent is not None:
        parent_doc = txn.get(parent, table_name=SCHEDULED_FUNCTIONS, system=True)
        if parent_doc is not None and parent_doc["state"]["kind"] == CANCELED:
            doc["state"] = {"kind": CANCELED}
            doc["completedTime"] = txn.now_ms
    return txn.system_insert(SCHEDULED_FUNCTIONS, doc)


def cancel_job(txn: Transaction, job_id: Any) -> None:
    """Pending -> canceled (it never runs); a running action goes on, and
    what it schedules from now on is canceled. Finished or unknown: no-op."""
    if not isinstance(job_id, str):
        raise SchedulerError(f"scheduler.cancel() needs the id returned by run_after/run_at, got {job_id!r}")
    try:
        doc = txn.get(job_id, table_name=SCHEDULED_FUNCTIONS, system=True)
    except LivebaseError:
        raise SchedulerError(
            f"scheduler.cancel(): {job_id[:60]!r} is not the id of a scheduled function "
            "(pass the id returned by run_after or run_at)"
        ) from None
    if doc is None or doc["state"]["kind"] not in (PENDING, IN_PROGRESS):
        return
    txn.patch(job_id, {"state": {"kind": CANCELED}, "completedTime": txn.now_ms}, system=True)


def error_text(message: str | None) -> str:
    """A job's stored error: the client message without its request-id header."""
    if not message:
        return "Server Error"
    lines = message.split("\n")
    if lines[0].startswith("[Request ID:") and len(lines) > 1:
        return "\n".join(lines[1:])
    if lines[0].startswith("[Request ID:"):
        return "Server Error"
    return message
