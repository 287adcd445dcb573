"""The WebSocket sync endpoint: ``/api/sync`` and ``/api/{version}/sync``.

A raw ASGI app (no per-message framework overhead): it reads frames and
hands them to the sync engine; everything it sends goes through the
session's ordered, bounded outgoing path.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from livebase.sync import protocol
from livebase.sync.protocol import ProtocolError
from livebase.sync.session import Session

if TYPE_CHECKING:
    from livebase.server.app import LivebaseApp

log = logging.getLogger("livebase.sync")


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
            with contextlib.suppress(Exception):
                await send({"type": "websocket.close", "code": code, "reason": reason[:120]})

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
