"""Scheduled functions (``ctx.scheduler``) and crons (``functions/crons.py``).

``CronJobs`` is imported by user code, so this package imports the server
side (``Scheduler``) only when it is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from livebase.scheduler.crons import CronError, CronJobs

if TYPE_CHECKING:
    from livebase.scheduler.service import Scheduler

__all__ = ["CronError", "CronJobs", "Scheduler"]


def __getattr__(name: str) -> Any:
    if name == "Scheduler":
        from livebase.scheduler.service import Scheduler

        return Scheduler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
