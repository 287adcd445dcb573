"""HTTP actions (``functions/http.py``), served on the site port.

Every request takes the router of the currently loaded functions (so a
reload applies at once), finds the route, resolves ``ctx.auth`` from the
``Authorization`` header, and runs the handler like an action: its log
lines are collected and the run is reported to the runner's execution
hooks (kind ``httpAction``, path ``"METHOD /path"``). There is no built-in
CORS: handlers add the headers they want, and an ``OPTIONS`` route.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from livebase.functions.context import ActionCtx
from livebase.functions.definitions import HTTP_ACTION
from livebase.functions.http_router import METHODS, HttpRouter
from livebase.functions.logs import LogCollector, current_collector
from livebase.functions.runner import Outcome, new_request_id
from livebase.server.responses import HttpError, error_response, json_response

if TYPE_CHECKING:
    from livebase.server.app import LivebaseApp

log = logging.getLogger("livebase.http_actions")

Scope = dict[str, Any]


class _BadReturn(Exception):
    pass


def to_response(result: Any) -> Response:
    """What a handler returned, as a response: a ``Response`` as is, ``str``
    as text, ``bytes`` as octet-stream, ``dict``/``list`` as JSON, None as 204."""
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(status_code=204)
    if isinstance(result, str):
        return PlainTextResponse(result)
    if isinstance(result, bytes | bytearray | memoryview):
        return Response(bytes(result), media_type="application/octet-stream")
    if isinstance(result, dict | list):
        try:
            return json_response(result)
        except TypeError as e:
            raise _BadReturn(
                f"the HTTP action returned a {type(result).__name__} that isn't JSON: {e}"
            ) from None
    raise _BadReturn(
        f"the HTTP action returned {type(result).__name__}; return a starlette Response, str, bytes, dict, list or None"
    )


def _without_body(send: Any) -> Any:
    """``send`` for HEAD: headers as GET would send them, no body bytes."""
    done = False

    async def head_send(message: dict[str, Any]) -> None:
        nonlocal done
        if message["type"] != "http.response.body":
            await send(message)
        elif not done and not message.get("more_body", False):
            done = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    return head_send


def build_site_app(app: LivebaseApp) -> Any:
    """The ASGI app for the site port (always served: ``functions/http.py``
    may appear at the next reload)."""
    runner = app.runner

    async def run_route(
        request: Request, route: Any, scope: Scope, receive: Any, send: Any
    ) -> None:
        identity = None
        if route.auth:
            try:
                identity = await app.identity_from_header(request.headers.get("authorization"))
            except HttpError as e:
                await e.response()(scope, receive, send)
                return
        request_id = new_request_id()
        outcome = Outcome(request_id, f"{request.method} {request.url.path}", kind=HTTP_ACTION)
        started = time.perf_counter()
        ctx = ActionCtx(
            runner, identity, time.time() * 1000.0, int.from_bytes(os.urandom(8), "little")
        )
        collector = LogCollector()
        token = current_collector.set(collector)
        try:
            try:
                response = to_response(await route.handler(ctx, request))
            except _BadReturn as e:
                outcome.error = f"[Request ID: {request_id}] Server Error\n{e}"
                response = error_response(500, "InvalidHttpActionResponse", outcome.error)
            except Exception as exc:  # noqa: BLE001 - user code may raise anything; it becomes a 500
                outcome.error, outcome.error_data = runner._exception_message(request_id, exc)
                body: dict[str, Any] = {"code": "HttpActionError", "message": outcome.error}
                if outcome.has_error_data:
                    body["data"] = outcome.error_data
                response = Response(
                    orjson.dumps(body, default=str), status_code=500, media_type="application/json"
                )
            try:
                # Inside the collector: a streamed body's log lines count too.
                await response(
                    scope, receive, _without_body(send) if request.method == "HEAD" else send
                )
            except Exception as exc:  # noqa: BLE001 - a streamed body failed half-way
                # Headers are out; the client sees a cut-off body.
                if outcome.error is None:
                    outcome.error, _ = runner._exception_message(request_id, exc)
        finally:
            current_collector.reset(token)
            outcome.log_lines = collector.finish()
            runner.finish(outcome, started)

    async def asgi(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1003})
            return
        request = Request(scope, receive)
        method, path = request.method, request.url.path
        router = app.registry.http
        if method != "HEAD" and method not in METHODS:
            response = error_response(
                405,
                "MethodNotAllowed",
                f"HTTP actions take {', '.join(METHODS)} and HEAD, not {method}",
            )
        elif router is None:
            response = error_response(
                404,
                "NoHttpRouter",
                "This deployment has no HTTP actions: add functions/http.py with `http = HttpRouter()`",
            )
        elif not isinstance(router, HttpRouter):
            response = error_response(
                500,
                "InvalidHttpRouter",
                f"functions/http.py: `http` must be an HttpRouter, not {type(router).__name__}",
            )
        else:
            route = router.lookup(method, path)
            if route is not None:
                await run_route(request, route, scope, receive, send)
                return
            others = router.methods_for(path)
            hint = f" (routes here take {', '.join(others)})" if others else ""
            response = error_response(
                404, "NoMatchingRoute", f"No HTTP route for {method} {path}{hint}"
            )
        await response(scope, receive, _without_body(send) if method == "HEAD" else send)

    return asgi
