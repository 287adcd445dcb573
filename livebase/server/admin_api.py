"""The admin API (``/api/_admin/...``): operations for the CLI and dashboard.

Every endpoint requires ``Authorization: Convex <admin key>``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from livebase.server.responses import HttpError, json_response

if TYPE_CHECKING:
    from livebase.server.app import LivebaseApp

KEEPALIVE_S = 15.0


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

    async def env_list(request: Request) -> Response:
        await require_admin(app, request)
        return json_response({"env": dict(sorted(app.env.items()))})

    async def env_update(request: Request) -> Response:
        """``{"changes": {"NAME": "value" | null}}`` — null removes."""
        await require_admin(app, request)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as e:
            raise HttpError(400, "BadJsonBody", f"The request body is not valid JSON: {e}") from None
        changes = body.get("changes") if isinstance(body, dict) else None
        if not isinstance(changes, dict) or not changes:
            raise HttpError(400, "BadJsonBody", 'The body must be {"changes": {"NAME": "value" or null}}')
        try:
            await app.set_env(changes)
        except ValueError as e:
            raise HttpError(400, "InvalidEnvironmentVariable", str(e)) from None
        return json_response({"env": dict(sorted(app.env.items()))})

    async def functions(request: Request) -> Response:
        await require_admin(app, request)
        return json_response({"functions": app.registry.describe()})

    async def logs(request: Request) -> Response:
        """Recent function runs; with ``?follow=1``, then new ones as they
        happen (newline-delimited JSON, a blank line every 15 s)."""
        await require_admin(app, request)
        history = request.query_params.get("history", "100")
        try:
            count = max(0, min(int(history), 1000))
        except ValueError:
            raise HttpError(400, "BadRequest", "history must be a number") from None
        recent = list(app.logs.recent)[-count:] if count else []
        if request.query_params.get("follow") not in ("1", "true"):
            return json_response({"entries": recent})
        queue = app.logs.follow()

        async def stream() -> AsyncIterator[bytes]:
            try:
                for entry in recent:
                    yield orjson.dumps(entry) + b"\n"
                while True:
                    try:
                        new = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                    except TimeoutError:
                        yield b"\n"
                        continue
                    if new is None:
                        return
                    yield orjson.dumps(new) + b"\n"
            finally:
                app.logs.unfollow(queue)

        return StreamingResponse(stream(), media_type="application/x-ndjson")

    return [
        Route("/api/_admin/connections", connections, methods=["GET"]),
        Route("/api/_admin/connections/close", close_connections, methods=["POST"]),
        Route("/api/_admin/env", env_list, methods=["GET"]),
        Route("/api/_admin/env", env_update, methods=["POST"]),
        Route("/api/_admin/functions", functions, methods=["GET"]),
        Route("/api/_admin/logs", logs, methods=["GET"]),
    ]
