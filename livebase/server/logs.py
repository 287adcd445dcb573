"""Function execution logs: every run (path, kind, duration, outcome, log
lines) goes to the server log as one structured line, to a ring buffer of
recent runs, and to every follower of ``/api/_admin/logs``."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import deque
from typing import Any, TextIO

import orjson

from livebase.functions.runner import Outcome

log = logging.getLogger("livebase.functions")

HISTORY = 1000
FOLLOWER_QUEUE = 10_000


def entry_of(outcome: Outcome) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "timestamp": time.time(),
        "requestId": outcome.request_id,
        "path": outcome.path,
        "kind": outcome.kind or "unknown",
        "durationMs": round(outcome.duration_ms, 3),
        "status": "success" if outcome.ok else "failure",
        "logLines": outcome.log_lines,
    }
    if not outcome.ok:
        # The operator sees what the client may not: the unredacted error.
        entry["error"] = outcome.error_detail or outcome.error
    return entry


# Lines for the server log are written in batches: a write (and flush) per
# run would cost more than a fast query itself.
FLUSH_DELAY_S = 0.02


class FunctionLog:
    def __init__(self, *, json_lines: bool, stream: TextIO | None = None) -> None:
        self.recent: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self._followers: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self.json_lines = json_lines
        # Printed when the CLI asked for Livebase's INFO records (serve, dev).
        self._stream = stream if stream is not None else (sys.stderr if log.isEnabledFor(logging.INFO) else None)
        self._pending: list[str] = []
        self._flush_handle: asyncio.TimerHandle | None = None

    def record(self, outcome: Outcome) -> None:
        entry = entry_of(outcome)
        self.recent.append(entry)
        if self._stream is not None:
            self._pending.append(self.format(entry))
            if self._flush_handle is None:
                try:
                    self._flush_handle = asyncio.get_running_loop().call_later(FLUSH_DELAY_S, self.flush)
                except RuntimeError:  # no event loop: write now
                    self.flush()
        for queue in list(self._followers):
            try:
                queue.put_nowait(entry)
            except asyncio.QueueFull:
                # A follower that doesn't keep up is cut off, not waited for.
                self._followers.discard(queue)

    def flush(self) -> None:
        self._flush_handle = None
        if self._pending and self._stream is not None:
            text = "\n".join(self._pending) + "\n"
            self._pending = []
            try:
                self._stream.write(text)
                self._stream.flush()
            except (OSError, ValueError):  # stderr closed: nothing to do
                pass

    def format(self, entry: dict[str, Any]) -> str:
        if self.json_lines:
            return orjson.dumps(entry).decode()
        return format_entry(entry)

    def follow(self) -> asyncio.Queue[dict[str, Any] | None]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(FOLLOWER_QUEUE)
        self._followers.add(queue)
        return queue

    def unfollow(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        self._followers.discard(queue)


_KIND = {"query": "Q", "mutation": "M", "action": "A", "httpAction": "H"}


def format_entry(entry: dict[str, Any]) -> str:
    """One human-readable line (plus the function's own log lines)."""
    when = time.strftime("%H:%M:%S", time.localtime(entry["timestamp"]))
    kind = _KIND.get(entry["kind"], "?")
    status = "ok" if entry["status"] == "success" else "FAILED"
    lines = [f"{when} {kind} {entry['path']} {entry['durationMs']:.1f}ms {status}"]
    lines.extend(f"    {line}" for line in entry.get("logLines", []))
    if entry.get("error"):
        lines.extend(f"    ! {line}" for line in str(entry["error"]).splitlines())
    return "\n".join(lines)
