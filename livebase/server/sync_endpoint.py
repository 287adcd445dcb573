"""The WebSocket sync endpoint: ``/api/sync`` and ``/api/{version}/sync``.

A raw ASGI app (no per-message framework overhead): it reads frames and
hands them to the sync engine; everything it sends goes through the
session's ordered, bounded outgoing path.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from livebase.sync import protocol
from livebase.sync.protocol import ProtocolError
from livebase.sync.session import Session

if TYPE_CHECKING:
    from livebase.server.app import LivebaseApp

log = logging.getLogger("livebase.sync")


CLOSE_TIMEOUT_S = 5.0
_closing: set[asyncio.Task[None]] = set()


async def _close(send: Any, code: int, reason: str) -> None:
    try:
        await asyncio.wait_for(send({"type": "websocket.close", "code": code, "reason": reason[:120]}), CLOSE_TIMEOUT_S)
    except TimeoutError:
        # uvicorn's protocol object owns the transport; cut the connection.
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        if transport is not None:
            transport.abort()
    except Exception:  # noqa: BLE001 - already gone
        pass


class SyncEndpoint:
    def __init__(self, app: LivebaseApp) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        engine = self.app.sync

        async def on_close(session: Session, code: int, reason: str) -> None:
            session.closed = True
            # Sending the close frame waits for the socket to drain; for a
            # client that stopped reading that is forever, and the caller may
            # be the sync worker. So it goes in the background, and a socket
            # that can't take it in time is aborted.
            task = asyncio.get_running_loop().create_task(_close(send, code, reason))
            _closing.add(task)
            task.add_done_callback(_closing.discard)

        session = Session(send, on_close)
        headers = dict(scope.get("headers") or [])
        client = headers.get(b"convex-client", b"").decode("latin-1")
        session.client_id = client or f"npm-{scope.get('path_params', {}).get('version', '?')}"
        engine.connect(session)
        try:
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.disconnect":
                    break
                if kind != "websocket.receive":
                    continue
                text = message.get("text")
                if text is None:
                    try:
                        text = (message.get("bytes") or b"").decode("utf-8")
                    except UnicodeDecodeError:
                        text = ""
                try:
                    await engine.handle(session, text)
                except ProtocolError as e:
                    log.info("protocol error from %s: %s", session.client_id, e.message)
                    await session.send(protocol.fatal_error(e.message))
                    await session.close(1000, "ProtocolError")
                if session.closed:
                    break
        finally:
            await engine.disconnect(session)
