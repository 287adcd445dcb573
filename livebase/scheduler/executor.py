"""The executor of scheduled functions.

One asyncio task finds due pending jobs through the ``by_state_time``
index, runs them under a concurrency cap, and sleeps until the next due
time or until a commit writes ``_scheduled_functions`` (a new job, a
cancel), whichever comes first.

- Mutations run **exactly once**: the job's ``success`` is written by a
  ``txn_hook`` in the mutation's own transaction, which also checks that
  the job is still pending. A user error marks the job failed; a failure
  after the handler succeeded (OCC, storage) committed nothing, so the job
  stays pending and is retried with backoff.
- Actions run **at most once**: the job is marked ``inProgress`` in its
  own transaction before the action starts. An action found ``inProgress``
  at startup was interrupted by a restart: it is marked failed, not rerun.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from typing import TYPE_CHECKING, Any

from livebase.database.catalog import SCHEDULED_FUNCTIONS, SYSTEM_TABLES
from livebase.database.committer import CommitEntry
from livebase.database.query import Query
from livebase.database.transaction import Transaction
from livebase.errors import LivebaseError
from livebase.functions.definitions import ACTION, MUTATION
from livebase.functions.paths import InvalidPath, canonical_path
from livebase.functions.runner import Outcome
from livebase.scheduler.jobs import (
    CANCELED,
    FAILED,
    IN_PROGRESS,
    PENDING,
    SUCCESS,
    current_job,
    error_text,
    finish_or_cancel,
    now_ms,
)

if TYPE_CHECKING:
    from livebase.server.app import LivebaseApp

log = logging.getLogger("livebase.scheduler")

DAY_MS = 86_400_000.0
INTERRUPTED = "Transient error while executing action: interrupted by a server restart"
_SCHEDULED_TABLE_NUMBER = SYSTEM_TABLES[SCHEDULED_FUNCTIONS][0]


def _knob(name: str, default: float) -> float:
    """Tuning knobs from the environment (tests shorten the retention)."""
    raw = os.environ.get(name)
    try:
        return float(raw) if raw else default
    except ValueError:
        log.warning("ignoring %s=%r: not a number", name, raw)
        return default


class JobNotPending(LivebaseError):
    """Raised in a scheduled mutation's transaction when its job was
    canceled (or already ran) meanwhile: the mutation must not commit."""

    code = "ScheduledJobNotPending"


class JobExecutor:
    def __init__(self, app: LivebaseApp) -> None:
        self.app = app
        self.db = app.db
        self.concurrency = max(1, int(_knob("LIVEBASE_SCHEDULER_CONCURRENCY", 16)))
        self.retention_ms = _knob("LIVEBASE_SCHEDULER_RETENTION_MS", 7 * DAY_MS)
        self.cleanup_every_ms = _knob("LIVEBASE_SCHEDULER_CLEANUP_INTERVAL_MS", 3_600_000.0)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: dict[str, asyncio.Task[None]] = {}
        # job id -> (attempts so far, not before ms): retries after system errors
        self._retry: dict[str, tuple[int, float]] = {}
        self._next_cleanup = 0.0
        self._stopping = False

    # -- lifecycle --------------------------------------------------------------

    async def start(self) -> None:
        await self._fail_interrupted_actions()
        self.db.committer.listeners.append(self._on_commits)
        # Not right away: restarting first runs the jobs that are due.
        self._next_cleanup = now_ms() + min(self.cleanup_every_ms, 10_000.0)
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="livebase-scheduler")

    async def stop(self, grace: float = 2.0) -> None:
        """Stop dispatching; running jobs get ``grace`` seconds to finish. A
        pending mutation that didn't commit runs again after a restart; an
        action cut short is failed at the next start."""
        self._stopping = True
        with contextlib.suppress(ValueError):
            self.db.committer.listeners.remove(self._on_commits)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await finish_or_cancel(list(self._inflight.values()), grace)

    def _on_commits(self, entries: list[CommitEntry]) -> None:
        table = self.db.catalog.tables_by_number.get(_SCHEDULED_TABLE_NUMBER)
        if table is None:
            return
        by_id = table.by_id.index_id
        if any(by_id in e.written_keys for e in entries):
            self._wake.set()

    # -- the loop -----------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                now = now_ms()
                if now >= self._next_cleanup:
                    # One batch at a time, so a large backlog of old jobs
                    # doesn't hold up due ones.
                    full = await self._cleanup(now)
                    self._next_cleanup = now if full else now + self.cleanup_every_ms
                next_due = self._dispatch(now_ms())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the scheduler failed to look for due jobs; trying again in 1s")
                next_due = now_ms() + 1000.0
            wake_at = min(x for x in (next_due, self._next_cleanup) if x is not None)
            timeout = max(0.0, (wake_at - now_ms()) / 1000.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _dispatch(self, now: float) -> float | None:
        """Start due jobs; returns when the next one is due (None: none pending)."""
        next_due: float | None = None
        txn = self.db.begin_read()
        try:
            query = Query(txn, txn.table_for_read(SCHEDULED_FUNCTIONS, system=True)).with_index(
                "by_state_time", lambda q: q.eq("state.kind", PENDING)
            )
            for doc in query:
                if len(self._inflight) >= self.concurrency:
                    break  # a finishing job wakes the loop
                job_id = doc["_id"]
                if job_id in self._inflight:
                    continue
                due = float(doc["scheduledTime"])
                if due > now:
                    next_due = due if next_due is None else min(next_due, due)
                    break
                retry = self._retry.get(job_id)
                if retry is not None and retry[1] > now:
                    next_due = retry[1] if next_due is None else min(next_due, retry[1])
                    continue
                self._inflight[job_id] = asyncio.get_running_loop().create_task(
                    self._run(doc), name=f"livebase-job-{job_id}"
                )
        finally:
            txn.close()
        return next_due

    async def _run(self, doc: dict[str, Any]) -> None:
        job_id = doc["_id"]
        current_job.set(job_id)  # this task's own context
        try:
            await self._execute(doc)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("scheduled job %s (%s) could not be run; retrying", job_id, doc.get("name"))
            self._back_off(job_id)
        finally:
            self._inflight.pop(job_id, None)
            if not self._stopping:
                self._wake.set()

    def _back_off(self, job_id: str) -> None:
        attempts = self._retry.get(job_id, (0, 0.0))[0] + 1
        delay = min(30_000.0, 50.0 * 2**attempts) * (0.5 + random.random())
        self._retry[job_id] = (attempts, now_ms() + delay)

    async def _execute(self, doc: dict[str, Any]) -> None:
        job_id = doc["_id"]
        name = doc["name"]
        args = doc["args"][0] if doc.get("args") else {}
        try:
            path = canonical_path(name)
        except InvalidPath as e:
            await self._finish(job_id, (PENDING,), FAILED, str(e))
            return
        fn = self.app.runner.registry.lookup(path)
        if fn is None:
            await self._finish(job_id, (PENDING,), FAILED, f"Could not find function for '{path}'")
            return
        if fn.kind not in (MUTATION, ACTION):
            message = f"'{path}' is a {fn.kind}; only mutations and actions can be run by the scheduler"
            await self._finish(job_id, (PENDING,), FAILED, message)
            return
        if fn.kind == MUTATION:
            await self._run_mutation(job_id, path, args)
        else:
            await self._run_action(job_id, path, args)

    async def _run_mutation(self, job_id: str, path: str, args: Any) -> None:
        seen = {"hook_ran": False, "not_pending": False}

        def mark_success(txn: Transaction, _result: Any) -> None:
            doc = txn.get(job_id, table_name=SCHEDULED_FUNCTIONS, system=True)
            if doc is None or doc["state"]["kind"] != PENDING:
                seen["not_pending"] = True
                raise JobNotPending(f"scheduled job {job_id} is no longer pending")
            txn.patch(job_id, {"state": {"kind": SUCCESS}, "completedTime": now_ms()}, system=True)
            seen["hook_ran"] = True

        outcome = await self.app.runner.run(
            path, args, kind=MUTATION, identity=None, internal_ok=True, txn_hook=mark_success
        )
        if outcome.ok:
            self._retry.pop(job_id, None)
            return
        if seen["not_pending"]:
            self._retry.pop(job_id, None)  # canceled meanwhile: nothing ran
            return
        if seen["hook_ran"]:
            # The handler succeeded but the commit failed (conflicts on every
            # retry, storage error): nothing was written, so run it again.
            log.warning("scheduled mutation %s (%s) will be retried: %s", job_id, path, outcome.error)
            self._back_off(job_id)
            return
        self._retry.pop(job_id, None)
        await self._finish(job_id, (PENDING,), FAILED, error_text(outcome.error))

    async def _run_action(self, job_id: str, path: str, args: Any) -> None:
        if not await self._finish(job_id, (PENDING,), IN_PROGRESS):
            return  # canceled before it started
        self._retry.pop(job_id, None)
        outcome: Outcome = await self.app.runner.run(path, args, kind=ACTION, identity=None, internal_ok=True)
        state = SUCCESS if outcome.ok else FAILED
        error = None if outcome.ok else error_text(outcome.error)
        # The result must be recorded: keep trying briefly (an unrecorded
        # run stays inProgress and is failed as interrupted at the next start).
        for attempt in range(5):
            try:
                await self._finish(job_id, (IN_PROGRESS,), state, error)
                return
            except LivebaseError as e:
                log.warning("could not record the result of scheduled action %s: %s", job_id, e)
                await asyncio.sleep(0.1 * 2**attempt)

    async def _finish(self, job_id: str, expected: tuple[str, ...], kind: str, error: str | None = None) -> bool:
        """Move a job from one of ``expected`` states to ``kind``; False if it
        was in another state (canceled meanwhile: a no-op, as in Convex)."""

        def body(txn: Transaction) -> bool:
            doc = txn.get(job_id, table_name=SCHEDULED_FUNCTIONS, system=True)
            if doc is None or doc["state"]["kind"] not in expected:
                return False
            state: dict[str, Any] = {"kind": kind}
            if error is not None:
                state["error"] = error
            fields: dict[str, Any] = {"state": state}
            if kind not in (PENDING, IN_PROGRESS):
                fields["completedTime"] = txn.now_ms
            txn.patch(job_id, fields, system=True)
            return True

        changed, _ts = await self.db.run_in_transaction(body)
        return changed

    # -- startup and housekeeping -------------------------------------------------

    async def _fail_interrupted_actions(self) -> None:
        """Actions still ``inProgress`` were cut off by a crash or a stop:
        at most once means they are failed, never rerun."""
        while True:

            def body(txn: Transaction) -> int:
                query = Query(txn, txn.table_for_read(SCHEDULED_FUNCTIONS, system=True)).with_index(
                    "by_state_time", lambda q: q.eq("state.kind", IN_PROGRESS)
                )
                docs = query.take(256)
                for doc in docs:
                    txn.patch(
                        doc["_id"],
                        {"state": {"kind": FAILED, "error": INTERRUPTED}, "completedTime": txn.now_ms},
                        system=True,
                    )
                return len(docs)

            count, _ts = await self.db.run_in_transaction(body)
            if count:
                log.warning("marked %d interrupted scheduled action(s) as failed", count)
            if count < 256:
                return

    async def _cleanup(self, now: float, batch: int = 500) -> bool:
        """Delete up to ``batch`` finished jobs older than the retention (7
        days by default); True if there may be more."""
        cutoff = now - self.retention_ms

        def body(txn: Transaction) -> int:
            query = Query(txn, txn.table_for_read(SCHEDULED_FUNCTIONS, system=True)).with_index(
                "by_completed_time", lambda q: q.gt("completedTime", 0).lt("completedTime", cutoff)
            )
            docs = query.take(batch)
            for doc in docs:
                if doc["state"]["kind"] in (SUCCESS, FAILED, CANCELED):
                    txn.delete(doc["_id"], system=True)
            return len(docs)

        count, _ts = await self.db.run_in_transaction(body)
        return count >= batch
