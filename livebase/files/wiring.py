"""Connects file storage to the app: ``ctx.storage`` providers."""

from __future__ import annotations

from typing import Any


def attach_storage(app: Any) -> None:
    """Install ``ctx.storage`` providers on ``app.runner``."""
