"""Running the crons of ``functions/crons.py``.

Each cron has one ``_cron_jobs`` document: ``{name, functionPath, args:
[args], schedule, nextTs, prevTs?, lastRun?: {ts, status, error?},
inProgress?: {startedTime}}``. Every deploy (startup, reload) reconciles
the documents with the declared crons: new ones are added, changed ones
updated, removed ones deleted.

A loop task runs each cron when its ``nextTs`` comes, at most one run per
cron at a time. The next run is the first slot after the run finished, so
slots an overrunning run covered are skipped, and runs missed while the
server was down happen once at startup (``nextTs`` is in the past).
Mutations advance ``nextTs`` in their own transaction (each slot runs
exactly once); actions advance it before they start (at most once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from livebase.database.catalog import CRON_JOBS
from livebase.database.query import Query
from livebase.database.transaction import Transaction
from livebase.errors import LivebaseError
from livebase.functions.definitions import ACTION, MUTATION
from livebase.functions.registry import Registry
from livebase.scheduler.crons import CronError, CronJobs, describe, first_run, next_run
from livebase.scheduler.jobs import (
    SchedulerError,
    check_args,
    error_text,
    finish_or_cancel,
    now_ms,
    resolve_target,
)
from livebase.values.model import UNDEFINED
from livebase.values.ordering import values_equal

if TYPE_CHECKING:
    from livebase.server.app import LivebaseApp

log = logging.getLogger("livebase.scheduler")

INTERRUPTED = "interrupted by a server restart"


class CronStale(LivebaseError):
    """The cron's document changed (redeployed, removed) since this run was
    decided: the run must not commit."""

    code = "CronJobChanged"


@dataclass
class Desired:
    name: str
    path: str
    kind: str
    args: dict[str, Any]
    schedule: dict[str, Any]


@dataclass
class _Cron:
    id: str
    name: str
    path: str
    args: dict[str, Any]
    next_ts: float
    retry_at: float = 0.0
    attempts: int = 0


class CronRunner:
    def __init__(self, app: LivebaseApp) -> None:
        self.app = app
        self.db = app.db
        self._crons: dict[str, _Cron] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------------

    async def start(self, registry: Registry) -> None:
        """Reconcile with the deployed crons (an invalid cron fails startup)
        and start running them."""
        await self.reconcile(self.desired(registry))
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="livebase-crons")

    def on_reload(self, registry: Registry) -> None:
        """After a reload: reconcile in the background; invalid crons are
        reported and the previous ones keep running."""
        try:
            desired = self.desired(registry)
        except LivebaseError as e:
            log.error("crons were not updated: %s", e.message)
            return
        task = asyncio.get_running_loop().create_task(self._reconcile_logged(desired))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self, grace: float = 2.0) -> None:
        tasks = [t for t in (self._task, *self._background) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await finish_or_cancel(list(self._running.values()), grace)

    # -- deploys -----------------------------------------------------------------

    def desired(self, registry: Registry) -> dict[str, Desired]:
        """The declared crons, checked against the deployed functions."""
        crons = registry.crons
        if crons is None:
            return {}
        if not isinstance(crons, CronJobs):
            raise CronError(f"functions/crons.py must define `crons = CronJobs()`, got {type(crons).__name__}")
        out = {}
        for job in crons.jobs.values():
            where = f"cron {job.name!r}"
            try:
                path, fn = resolve_target(registry, job.function, where)
                args, _size = check_args(fn, path, job.args, self.db.table_number, where)
            except SchedulerError as e:
                raise CronError(e.message) from None
            out[job.name] = Desired(job.name, path, fn.kind, args, job.schedule)
        return out

    async def _reconcile_logged(self, desired: dict[str, Desired]) -> None:
        try:
            await self.reconcile(desired)
        except LivebaseError as e:
            log.error("crons were not updated: %s", e.message)

    async def reconcile(self, desired: dict[str, Desired]) -> None:
        async with self._lock:
            docs, _ts = await self.db.run_in_transaction(lambda txn: self._reconcile_in(txn, desired))
            previous = self._crons
            self._crons = {}
            for name, doc in docs.items():
                old = previous.get(name)
                cron = _Cron(doc["_id"], name, doc["functionPath"], doc["args"][0], float(doc["nextTs"]))
                if old is not None and old.id == cron.id:
                    cron.retry_at, cron.attempts = old.retry_at, old.attempts
                self._crons[name] = cron
            for name in previous.keys() - docs.keys():
                log.info("cron %r removed", name)
            self._wake.set()

    def _reconcile_in(self, txn: Transaction, desired: dict[str, Desired]) -> dict[str, dict[str, Any]]:
        table = txn.catalog.table(CRON_JOBS)
        assert table is not None, "the _cron_jobs system table always exists"
        existing: dict[str, dict[str, Any]] = {}
        for row in Query(txn, table):
            if row["name"] in existing or row["name"] not in desired:
                txn.delete(row["_id"], system=True)
            else:
                existing[row["name"]] = row
        now = now_ms()
        result = {}
        for name, want in desired.items():
            doc: dict[str, Any] | None = existing.get(name)
            fields: dict[str, Any] = {
                "functionPath": want.path,
                "args": [want.args],
                "schedule": want.schedule,
            }
            if doc is None:
                fields["name"] = name
                fields["nextTs"] = first_run(want.schedule, now)
                doc = {"_id": txn.system_insert(CRON_JOBS, fields), **fields}
                log.info("cron %r added: %s %s", name, describe(want.schedule), want.path)
            else:
                changes = {k: v for k, v in fields.items() if not values_equal(doc.get(k, UNDEFINED), v)}
                if "schedule" in changes:
                    changes["nextTs"] = first_run(want.schedule, now)
                if "inProgress" in doc and name not in self._running:
                    # An action run cut off by a crash or stop: it is not rerun.
                    started = doc["inProgress"].get("startedTime", now)
                    changes["inProgress"] = UNDEFINED
                    changes["lastRun"] = {"ts": started, "status": "failed", "error": INTERRUPTED}
                if changes:
                    txn.patch(doc["_id"], changes, system=True)
                    doc = {**doc, **changes}
                    doc = {k: v for k, v in doc.items() if v is not UNDEFINED}
                    if "schedule" in changes or "functionPath" in changes or "args" in changes:
                        log.info("cron %r updated: %s %s", name, describe(want.schedule), want.path)
            result[name] = doc
        return result

    # -- running -----------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            now = now_ms()
            wake_at: float | None = None
            for cron in list(self._crons.values()):
                if cron.name in self._running:
                    continue  # at most one run at a time; it wakes us when done
                due = max(cron.next_ts, cron.retry_at)
                if due <= now:
                    task = asyncio.get_running_loop().create_task(self._run(cron), name=f"livebase-cron-{cron.name}")
                    self._running[cron.name] = task
                else:
                    wake_at = due if wake_at is None else min(wake_at, due)
            timeout = None if wake_at is None else max(0.0, (wake_at - now_ms()) / 1000.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _run(self, cron: _Cron) -> None:
        try:
            fn = self.app.runner.registry.lookup(cron.path)
            if fn is not None and fn.kind == ACTION:
                await self._run_action(cron)
            else:
                await self._run_mutation(cron)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("cron %r could not be run; retrying", cron.name)
            self._back_off(cron)
        finally:
            self._running.pop(cron.name, None)
            self._wake.set()

    def _back_off(self, cron: _Cron) -> None:
        cron.attempts += 1
        cron.retry_at = now_ms() + min(30_000.0, 100.0 * 2**cron.attempts) * (0.5 + random.random())

    def _current(self, txn: Transaction, cron: _Cron) -> dict[str, Any] | None:
        """The cron's document if this run is still the one it expects."""
        doc = txn.get(cron.id, system=True)
        if doc is None or float(doc["nextTs"]) != cron.next_ts:
            return None
        return doc

    def _set_next(self, cron: _Cron, next_ts: float) -> None:
        """Record a run's outcome on the cron, and on its live entry if a
        reconcile replaced the entry while the run was going on."""
        live = self._crons.get(cron.name)
        for c in (cron, live):
            if c is not None and c.id == cron.id:
                c.next_ts = next_ts
                c.retry_at, c.attempts = 0.0, 0

    def _settle(self, cron: _Cron, doc: dict[str, Any] | None) -> None:
        if doc is not None:
            self._set_next(cron, float(doc["nextTs"]))

    async def _refresh(self, cron: _Cron) -> None:
        """Reload a cron's ``nextTs`` after finding it changed underneath."""
        txn = self.db.begin_read()
        try:
            doc = txn.get(cron.id, system=True)
        finally:
            txn.close()
        if doc is None:
            if self._crons.get(cron.name) is cron:
                del self._crons[cron.name]
        else:
            self._set_next(cron, float(doc["nextTs"]))

    async def _run_mutation(self, cron: _Cron) -> None:
        slot = cron.next_ts
        seen: dict[str, Any] = {"hook_ran": False, "stale": False, "doc": None}

        def advance(txn: Transaction, _result: Any) -> None:
            doc = self._current(txn, cron)
            if doc is None:
                seen["stale"] = True
                raise CronStale(f"cron {cron.name!r} changed while it was running; this run is dropped")
            now = now_ms()
            fields = {
                "nextTs": next_run(doc["schedule"], slot, now),
                "prevTs": slot,
                "lastRun": {"ts": now, "status": "success"},
            }
            txn.patch(cron.id, fields, system=True)
            seen["doc"] = {**doc, **fields}
            seen["hook_ran"] = True

        outcome = await self.app.runner.run(
            cron.path, cron.args, kind=MUTATION, identity=None, internal_ok=True, txn_hook=advance
        )
        if outcome.ok:
            self._settle(cron, seen["doc"])
        elif seen["stale"]:
            await self._refresh(cron)
        elif seen["hook_ran"]:
            self._back_off(cron)  # committed nothing (conflict, storage): run this slot again
        else:
            doc = await self._record_failure(cron, slot, error_text(outcome.error))
            self._settle(cron, doc)

    async def _record_failure(self, cron: _Cron, slot: float, error: str) -> dict[str, Any] | None:
        def body(txn: Transaction) -> dict[str, Any] | None:
            doc = self._current(txn, cron)
            if doc is None:
                return None
            now = now_ms()
            fields = {
                "nextTs": next_run(doc["schedule"], slot, now),
                "prevTs": slot,
                "lastRun": {"ts": now, "status": "failed", "error": error},
            }
            txn.patch(cron.id, fields, system=True)
            return {**doc, **fields}

        doc, _ts = await self.db.run_in_transaction(body)
        if doc is None:
            await self._refresh(cron)
        return doc

    async def _run_action(self, cron: _Cron) -> None:
        slot = cron.next_ts

        def begin(txn: Transaction) -> dict[str, Any] | None:
            doc = self._current(txn, cron)
            if doc is None:
                return None
            now = now_ms()
            # Advanced before the action starts: a crash never reruns this slot.
            fields = {"nextTs": next_run(doc["schedule"], slot, now), "prevTs": slot, "inProgress": {"startedTime": now}}
            txn.patch(cron.id, fields, system=True)
            return {**doc, **fields}

        started, _ts = await self.db.run_in_transaction(begin)
        if started is None:
            await self._refresh(cron)
            return
        self._settle(cron, started)
        outcome = await self.app.runner.run(cron.path, cron.args, kind=ACTION, identity=None, internal_ok=True)
        last_run: dict[str, Any] = {"ts": started["inProgress"]["startedTime"], "status": "success"}
        if not outcome.ok:
            last_run.update(status="failed", error=error_text(outcome.error))
        planned = float(started["nextTs"])

        def end(txn: Transaction) -> dict[str, Any] | None:
            doc = txn.get(cron.id, system=True)
            if doc is None:
                return None  # removed while running
            fields: dict[str, Any] = {"inProgress": UNDEFINED, "lastRun": last_run}
            next_ts = float(doc["nextTs"])
            if next_ts == planned:
                # Slots that passed while the action ran are skipped.
                fields["nextTs"] = next_run(doc["schedule"], planned, now_ms())
            txn.patch(cron.id, fields, system=True)
            return {"nextTs": fields.get("nextTs", next_ts)}

        doc, _ts = await self.db.run_in_transaction(end)
        self._settle(cron, doc)
