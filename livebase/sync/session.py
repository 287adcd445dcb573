"""One client connection's sync state (PROTOCOL.md §6.5 rule 1)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from livebase.auth.identity import Identity
from livebase.sync.protocol import StateVersion
from livebase.sync.query_cache import QueryInstance

log = logging.getLogger("livebase.sync")

# A client this far behind is disconnected (it reconnects and resubscribes).
MAX_QUEUED_MESSAGES = 512
MAX_QUEUED_BYTES = 64 << 20
CLOSE_FLUSH_TIMEOUT_S = 5.0

Send = Callable[[dict[str, Any]], Awaitable[None]]


class Session:
    __slots__ = (
        "_send",
        "_writable",
        "added",
        "changed",
        "client_id",
        "closed",
        "connected_at",
        "expiry_timer",
        "force_transition",
        "identity",
        "last_sent",
        "min_transition_ts",
        "mutation_task",
        "mutations",
        "on_close",
        "queries",
        "received_identity",
        "received_query_set",
        "removed",
        "send_queue",
        "send_queue_bytes",
        "sender_task",
        "session_id",
        "version",
    )

    def __init__(self, send: Send, on_close: Callable[[Session, int, str], Awaitable[None]]) -> None:
        self._send = send
        self.on_close = on_close
        # uvicorn's protocol tells whether a send would wait for the socket
        # to drain; when it can't wait we send inline, without a task hop.
        owner = getattr(send, "__self__", None)
        self._writable: asyncio.Event | None = getattr(owner, "writable", None)
        self.session_id: str | None = None
        self.client_id = ""
        self.version = StateVersion()
        self.received_query_set = 0
        self.received_identity = 0
        self.identity: Identity | None = None
        self.queries: dict[int, QueryInstance] = {}
        self.added: set[int] = set()
        self.removed: set[int] = set()
        self.changed: set[int] = set()
        self.force_transition = False
        # The next Transition must reach at least this ts (a mutation's commit).
        self.min_transition_ts = 0
        self.mutations: deque[dict[str, Any]] = deque()
        self.mutation_task: asyncio.Task[None] | None = None
        self.send_queue: deque[str] = deque()
        self.send_queue_bytes = 0
        self.sender_task: asyncio.Task[None] | None = None
        self.closed = False
        self.expiry_timer: asyncio.TimerHandle | None = None
        self.last_sent = time.monotonic()
        self.connected_at = self.last_sent

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other

    # -- sending -----------------------------------------------------------------

    async def send(self, text: str) -> None:
        """Send a message in order; never waits on a slow client."""
        if self.closed:
            return
        self.last_sent = time.monotonic()
        writable = self._writable
        if not self.send_queue and writable is not None and writable.is_set():
            try:
                await self._send({"type": "websocket.send", "text": text})
            except Exception:  # noqa: BLE001 - the client went away
                self.closed = True
            return
        self.send_queue.append(text)
        self.send_queue_bytes += len(text)
        if len(self.send_queue) > MAX_QUEUED_MESSAGES or self.send_queue_bytes > MAX_QUEUED_BYTES:
            log.warning("client %s fell too far behind; disconnecting it", self.client_id)
            self.send_queue.clear()
            self.send_queue_bytes = 0
            if self.sender_task is not None:
                self.sender_task.cancel()
            await self.close(1013, "ClientTooSlow", flush=False)
            return
        if self.sender_task is None or self.sender_task.done():
            self.sender_task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self.send_queue and not self.closed:
            text = self.send_queue.popleft()
            self.send_queue_bytes -= len(text)
            try:
                await self._send({"type": "websocket.send", "text": text})
            except Exception:  # noqa: BLE001 - the client went away
                self.closed = True
                return

    async def close(self, code: int, reason: str, *, flush: bool = True) -> None:
        """Close after the messages already queued (an AuthError or FatalError
        must reach the client before the close frame)."""
        if self.closed:
            return
        task = self.sender_task
        if flush and task is not None and not task.done() and task is not asyncio.current_task():
            with contextlib.suppress(Exception, asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), CLOSE_FLUSH_TIMEOUT_S)
        await self.on_close(self, code, reason)
