"""The user-code time limit of queries and mutations (1 s, SEMANTICS.md §10).

Handlers run on the event loop, so a runaway one would stall every client.
On the main thread an interval timer interrupts it with ``FunctionTimeout``;
elsewhere (embedded use) the limit is checked when the handler returns.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from livebase.errors import LivebaseError

QUERY_MUTATION_LIMIT_S = 1.0


class FunctionTimeout(LivebaseError):
    code = "FunctionTimeout"


def _message(limit: float) -> str:
    return f"Function execution timed out: user code ran longer than the limit of {limit:g} s"


@contextmanager
def time_limit(limit: float = QUERY_MUTATION_LIMIT_S) -> Iterator[None]:
    started = time.monotonic()
    use_signal = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    previous: Any = None
    if use_signal:

        def interrupt(signum: int, frame: Any) -> None:
            raise FunctionTimeout(_message(limit))

        previous = signal.signal(signal.SIGALRM, interrupt)
        signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        if use_signal:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    if time.monotonic() - started > limit:
        raise FunctionTimeout(_message(limit))
