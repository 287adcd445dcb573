"""The scheduler service of a ``LivebaseApp``: provides ``ctx.scheduler``
and runs scheduled functions and crons."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from livebase.database.transaction import Transaction
from livebase.functions.registry import Registry
from livebase.scheduler.api import ActionScheduler, MutationScheduler
from livebase.scheduler.cron_runner import CronRunner
from livebase.scheduler.executor import JobExecutor

if TYPE_CHECKING:
    from livebase.server.app import LivebaseApp

log = logging.getLogger("livebase.scheduler")


class Scheduler:
    """Constructed by ``LivebaseApp``; ``start()`` at startup, ``stop()`` at shutdown.

    Set ``enabled = False`` before ``start()`` in processes that must not run
    jobs (a one-off ``livebase run`` without a server): functions can still
    schedule, and the server runs the jobs when it starts.
    """

    def __init__(self, app: LivebaseApp) -> None:
        self.app = app
        self.enabled = True
        self.jobs = JobExecutor(app)
        self.crons = CronRunner(app)
        self._started = False
        app.runner.make_scheduler = self._ctx_scheduler
        app.on_reload.append(self._on_reload)

    def _ctx_scheduler(self, txn: Transaction | None) -> Any:
        if txn is None:
            return ActionScheduler(self.app.runner)
        return MutationScheduler(self.app.runner, txn)

    async def start(self) -> None:
        """Start running due jobs and crons."""
        if not self.enabled or self._started:
            return
        await self.jobs.start()
        try:
            await self.crons.start(self.app.registry)
        except BaseException:
            await self.jobs.stop()
            raise
        self._started = True

    def check(self, registry: Registry) -> None:
        """Raise ``CronError`` if the registry's crons are invalid (before it
        replaces the running functions)."""
        self.crons.desired(registry)

    def _on_reload(self, registry: Registry) -> None:
        if self._started:
            self.crons.on_reload(registry)

    async def stop(self) -> None:
        """Stop the executor; running jobs finish or are resumed after restart."""
        if not self._started:
            return
        self._started = False
        await self.crons.stop()
        await self.jobs.stop()
