"""The admin API (``/api/_admin/...``): operations for the CLI and dashboard.

Every endpoint requires ``Authorization: Convex <admin key>``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from livebase.server.responses import HttpError, json_response

if TYPE_CHECKING:
    from livebase.server.app import LivebaseApp


async def require_admin(app: LivebaseApp, request: Request) -> None:
    identity = await app.identity_from_header(request.headers.get("authorization"))
    if identity is None or not identity.is_admin:
        raise HttpError(401, "Unauthenticated", "This endpoint needs Authorization: Convex <admin key>")


def admin_routes(app: LivebaseApp) -> list[BaseRoute]:
    async def connections(request: Request) -> Response:
        await require_admin(app, request)
        now = time.monotonic()
        return json_response(
            {
                "connections": [
                    {
                        "sessionId": s.session_id,
                        "client": s.client_id,
                        "queries": len(s.queries),
                        "connectedForSeconds": round(now - s.connected_at, 3),
                    }
                    for s in app.sync.sessions
                ]
            }
        )

    async def close_connections(request: Request) -> Response:
        """Drop every client socket (clients reconnect and resubscribe)."""
        await require_admin(app, request)
        sessions = list(app.sync.sessions)
        for s in sessions:
            await s.close(1011, "InternalServerError")
        return json_response({"closed": len(sessions)})

    return [
        Route("/api/_admin/connections", connections, methods=["GET"]),
        Route("/api/_admin/connections/close", close_connections, methods=["POST"]),
    ]
