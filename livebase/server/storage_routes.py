"""File upload and download endpoints (``/api/storage/...``)."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute


def storage_routes(app: Any) -> list[BaseRoute]:
    return []
