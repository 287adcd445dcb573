"""Capture ``print`` and ``logging`` output of a running function as log lines.

A ContextVar names the collector of the function running in the current
context (each asyncio task has its own), so concurrently running actions
keep their lines apart. ``sys.stdout`` is wrapped once, and a handler on the
root logger collects records; outside functions both behave as before.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import Any, TextIO

MAX_LOG_LINES = 256
MAX_LINE_BYTES = 4096

_LEVELS = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARN",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "ERROR",
}


class LogCollector:
    __slots__ = ("_partial", "lines", "overflowed")

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._partial = ""
        self.overflowed = False

    def add(self, level: str, message: str) -> None:
        if self.overflowed:
            return
        if len(self.lines) >= MAX_LOG_LINES:
            self.overflowed = True
            self.lines.append(f"[ERROR] Log overflow (maximum {MAX_LOG_LINES} lines); later lines were dropped.")
            return
        line = f"[{level}] {message}"
        if len(line.encode("utf-8", "replace")) > MAX_LINE_BYTES:
            line = line.encode("utf-8", "replace")[: MAX_LINE_BYTES - 20].decode("utf-8", "ignore") + " (truncated)"
        self.lines.append(line)

    def write(self, text: str) -> None:
        text = self._partial + text
        *complete, self._partial = text.split("\n")
        for line in complete:
            self.add("LOG", line)

    def finish(self) -> list[str]:
        if self._partial:
            self.add("LOG", self._partial)
            self._partial = ""
        return self.lines


current_collector: ContextVar[LogCollector | None] = ContextVar("livebase_log_collector", default=None)


class _StdoutRouter:
    """Stands in for sys.stdout: function output goes to its collector."""

    def __init__(self, real: TextIO) -> None:
        self._real = real

    def write(self, text: str) -> int:
        collector = current_collector.get()
        if collector is None:
            return self._real.write(text)
        collector.write(text)
        return len(text)

    def flush(self) -> None:
        if current_collector.get() is None:
            self._real.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class _FunctionLogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        collector = current_collector.get()
        if collector is None:
            return
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
        except Exception:  # noqa: BLE001 - a bad log record must not break the function
            message = str(record.msg)
        collector.add(_LEVELS.get(record.levelno, "LOG" if record.levelno < logging.WARNING else "ERROR"), message)


_installed = False


def install() -> None:
    """Route stdout and logging (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    if not isinstance(sys.stdout, _StdoutRouter):
        sys.stdout = _StdoutRouter(sys.stdout)
    root = logging.getLogger()
    root.addHandler(_FunctionLogHandler(logging.DEBUG))
    # Let INFO and DEBUG records of user code reach the collector; the
    # server's own handlers keep their levels. Chatty libraries stay quiet.
    if root.level > logging.DEBUG or root.level == logging.NOTSET:
        root.setLevel(logging.DEBUG)
    # Livebase's own INFO records (one per function run) cost time to build:
    # only produce them when the CLI configured a handler that shows them.
    own = logging.getLogger("livebase")
    if own.level == logging.NOTSET:
        own.setLevel(logging.WARNING)
    for name in ("websockets", "uvicorn", "asyncio", "httpx", "httpcore", "watchfiles", "hpack", "urllib3", "multipart"):
        lg = logging.getLogger(name)
        if lg.level == logging.NOTSET:
            lg.setLevel(logging.INFO if name == "uvicorn" else logging.WARNING)
