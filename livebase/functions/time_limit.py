"""The user-code time limit of queries and mutations (1 s, SEMANTICS.md §10).

Handlers run on the event loop, so a runaway one would stall every client.
On the main thread an interval timer interrupts it with ``FunctionTimeout``;
elsewhere (embedded use) the limit is checked when the handler returns.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from livebase.errors import LivebaseError

QUERY_MUTATION_LIMIT_S = 1.0


class FunctionTimeout(LivebaseError):
    code = "FunctionTimeout"


def _message(limit: float) -> str:
    return f"Function execution timed out: user code ran longer than the limit of {limit:g} s"


# The limit of the handler running now (None: none is running). The SIGALRM
# handler is installed once; arming the timer is then one cheap syscall.
_running_limit: float | None = None
_installed = False


def _interrupt(signum: int, frame: Any) -> None:
    if _running_limit is not None:
        raise FunctionTimeout(_message(_running_limit))


def _can_use_signal() -> bool:
    global _installed
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        return False
    if not _installed:
        signal.signal(signal.SIGALRM, _interrupt)
        _installed = True
    return True


def arm(limit: float = QUERY_MUTATION_LIMIT_S) -> tuple[float, float | None, bool]:
    """Start timing a handler; pass the result to ``disarm`` when it returns.

    (Two plain calls instead of a context manager: this runs for every
    query and mutation.)"""
    global _running_limit
    use_signal = _can_use_signal()
    outer = _running_limit
    _running_limit = limit
    if use_signal:
        signal.setitimer(signal.ITIMER_REAL, limit)
    return time.monotonic(), outer, use_signal


def disarm(token: tuple[float, float | None, bool], limit: float = QUERY_MUTATION_LIMIT_S) -> None:
    """Stop the timer; raise ``FunctionTimeout`` if the handler ran too long."""
    global _running_limit
    started, outer, use_signal = token
    if use_signal:
        signal.setitimer(signal.ITIMER_REAL, 0)
    _running_limit = outer
    if time.monotonic() - started > limit:
        raise FunctionTimeout(_message(limit))

