"""Scheduled functions and crons."""

from __future__ import annotations

from typing import Any


class Scheduler:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def start(self) -> None:
        """Start running due jobs and crons."""

    async def stop(self) -> None:
        """Stop the executor; running jobs finish or are resumed after restart."""
