"""``ctx.scheduler``: ``run_after``, ``run_at`` and ``cancel``.

In a mutation they write in the mutation's own transaction: the job exists
only if the mutation commits. In an action each call is its own small
write transaction, done before the call returns (so they are coroutines:
``await ctx.scheduler.run_after(...)``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from livebase.database.transaction import Transaction
from livebase.scheduler.jobs import (
    Budget,
    cancel_job,
    check_args,
    delay_ms,
    insert_job,
    resolve_target,
    timestamp_ms,
)

if TYPE_CHECKING:
    from livebase.functions.runner import FunctionRunner


class MutationScheduler:
    """``ctx.scheduler`` in a mutation; every method returns immediately."""

    __slots__ = ("_budget", "_runner", "_txn")

    def __init__(self, runner: FunctionRunner, txn: Transaction) -> None:
        self._runner = runner
        self._txn = txn
        self._budget = Budget()

    def run_after(self, ms: float, fn: Any, args: dict[str, Any] | None = None) -> str:
        """Run ``fn(args)`` ``ms`` milliseconds after this mutation; returns the job id."""
        # ctx.now() of this mutation: a retried transaction schedules alike.
        return self._schedule("run_after", self._txn.now_ms + delay_ms(ms), fn, args)

    def run_at(self, when: Any, fn: Any, args: dict[str, Any] | None = None) -> str:
        """Run ``fn(args)`` at ``when`` (ms since the epoch, or an aware
        datetime; a past time runs as soon as possible); returns the job id."""
        return self._schedule("run_at", timestamp_ms(when), fn, args)

    def cancel(self, id: str) -> None:
        """Cancel a job: if it has not started it never runs."""
        cancel_job(self._txn, id)

    def _schedule(self, op: str, when_ms: float, fn: Any, args: Any) -> str:
        path, definition = resolve_target(self._runner.registry, fn, f"scheduler.{op}()")
        checked, size = check_args(definition, path, args, self._runner.db.table_number, f"scheduler.{op}()")
        self._budget.charge(size)
        return insert_job(self._txn, path, checked, when_ms)


class ActionScheduler:
    """``ctx.scheduler`` in an action; every method is a coroutine."""

    __slots__ = ("_budget", "_runner")

    def __init__(self, runner: FunctionRunner) -> None:
        self._runner = runner
        self._budget = Budget()

    async def run_after(self, ms: float, fn: Any, args: dict[str, Any] | None = None) -> str:
        """Run ``fn(args)`` ``ms`` milliseconds from now; returns the job id."""
        delay = delay_ms(ms)
        return await self._schedule("run_after", lambda txn: txn.now_ms + delay, fn, args)

    async def run_at(self, when: Any, fn: Any, args: dict[str, Any] | None = None) -> str:
        """Run ``fn(args)`` at ``when`` (ms since the epoch, or an aware datetime)."""
        at = timestamp_ms(when)
        return await self._schedule("run_at", lambda _txn: at, fn, args)

    async def cancel(self, id: str) -> None:
        """Cancel a job: if it has not started it never runs."""
        await self._runner.db.run_in_transaction(lambda txn: cancel_job(txn, id))

    async def _schedule(self, op: str, when: Any, fn: Any, args: Any) -> str:
        path, definition = resolve_target(self._runner.registry, fn, f"scheduler.{op}()")
        checked, size = check_args(definition, path, args, self._runner.db.table_number, f"scheduler.{op}()")
        self._budget.charge(size)
        job_id, _ts = await self._runner.db.run_in_transaction(
            lambda txn: insert_job(txn, path, checked, when(txn))
        )
        return job_id
