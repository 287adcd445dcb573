"""HTTP actions (``functions/http.py``), served on the site port."""

from __future__ import annotations

from typing import Any


def build_site_app(app: Any) -> Any:
    """The ASGI app for the site port, or None when HTTP actions are unavailable."""
    return None
