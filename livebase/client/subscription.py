"""Live query results: ``Subscription`` (threads) and ``AsyncSubscription`` (asyncio).

Both are listeners of the protocol core: it calls ``deliver`` on the core's
event loop with the first result and then every change. A subscription
either queues results for iteration or hands them to callbacks.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import queue
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from livebase.client.local_state import LocalQuery, QueryResult

if TYPE_CHECKING:
    from types import TracebackType

    from livebase.client.core import ClientCore

log = logging.getLogger("livebase.client")

OnUpdate = Callable[[Any], Any]
OnError = Callable[[Exception], Any]

_END = object()  # queued when the subscription ends


class _SubscriptionBase:
    # Only one-shot queries care about the auth epoch (see ClientCore).
    epoch = 0

    def __init__(self, path: str, on_update: OnUpdate | None, on_error: OnError | None) -> None:
        self.path = path
        self._on_update = on_update
        self._on_error = on_error
        self._latest: QueryResult | None = None
        self._query: LocalQuery | None = None
        self._done = False  # no more results will be returned

    @property
    def value(self) -> Any:
        """The latest result (even one not yet taken from the iterator).

        ``None`` before the first result arrives; raises the query's error
        (``FunctionError``) if the latest result is one.
        """
        latest = self._latest
        return None if latest is None else latest.unwrap()

    @property
    def has_value(self) -> bool:
        """Whether a first result has arrived."""
        return self._latest is not None

    # -- called by the core, on its loop ---------------------------------------------

    def deliver(self, result: QueryResult) -> None:
        self._latest = result
        if self._on_update is None and self._on_error is None:
            self._push(result)
            return
        try:
            if result.error is None:
                outcome = self._on_update(result.value) if self._on_update else None
            elif self._on_error is not None:
                outcome = self._on_error(result.error)
            else:
                log.warning("subscription to %s failed: %s", self.path, result.error)
                outcome = None
            self._after_callback(outcome)
        except Exception:
            log.exception("a subscription callback for %s raised", self.path)

    def end(self, error: Exception | None) -> None:
        self._push(_END)

    def _push(self, item: Any) -> None:
        raise NotImplementedError

    def _check_iterable(self) -> None:
        if self._on_update is not None or self._on_error is not None:
            raise TypeError(f"this subscription to {self.path} delivers its results to callbacks, not to an iterator")

    def _after_callback(self, outcome: Any) -> None:
        pass


class Subscription(_SubscriptionBase):
    """A live query for threaded code, from ``Client.subscribe``.

    Iterate it to get the first result and then one per change (a failing
    result raises its ``FunctionError`` from ``next`` and iteration can go
    on); iteration stops when the subscription or its client is closed.
    Results that arrive while nobody is iterating are queued.
    """

    def __init__(self, core: ClientCore, loop: asyncio.AbstractEventLoop, path: str, on_update: OnUpdate | None, on_error: OnError | None) -> None:
        super().__init__(path, on_update, on_error)
        self._core = core
        self._loop = loop
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def _push(self, item: Any) -> None:
        self._queue.put(item)

    def next(self, timeout: float | None = None) -> Any:
        """The next result; ``TimeoutError`` if none comes within ``timeout``
        seconds, ``StopIteration`` once the subscription is closed."""
        self._check_iterable()
        if self._done:
            raise StopIteration
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no new result for {self.path} within {timeout}s") from None
        if item is _END or self._done:
            self._done = True
            raise StopIteration
        return item.unwrap()

    def __iter__(self) -> Subscription:
        return self

    def __next__(self) -> Any:
        return self.next()

    def close(self) -> None:
        """Stop receiving results (unsubscribes when nobody else listens)."""
        if self._done:
            return
        self._done = True
        self._queue.put(_END)
        if self._query is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._core.unsubscribe, self._query, self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class AsyncSubscription(_SubscriptionBase):
    """A live query for asyncio code, from ``AsyncClient.subscribe``.

    ``async for value in subscription`` gets the first result and then one
    per change; see ``Subscription`` for the details, which are the same.
    """

    def __init__(self, core: ClientCore, path: str, on_update: OnUpdate | None, on_error: OnError | None) -> None:
        super().__init__(path, on_update, on_error)
        self._core = core
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()

    def _push(self, item: Any) -> None:
        self._queue.put_nowait(item)

    def _after_callback(self, outcome: Any) -> None:
        # Async callbacks run as tasks (kept referenced until done).
        if inspect.isawaitable(outcome):
            task = asyncio.ensure_future(outcome)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def next(self, timeout: float | None = None) -> Any:
        """The next result; ``TimeoutError`` if none comes within ``timeout``
        seconds, ``StopAsyncIteration`` once the subscription is closed."""
        self._check_iterable()
        if self._done:
            raise StopAsyncIteration
        try:
            async with asyncio.timeout(timeout):
                item = await self._queue.get()
        except TimeoutError:
            raise TimeoutError(f"no new result for {self.path} within {timeout}s") from None
        if item is _END or self._done:
            self._done = True
            raise StopAsyncIteration
        return item.unwrap()

    def __aiter__(self) -> AsyncSubscription:
        return self

    async def __anext__(self) -> Any:
        return await self.next()

    async def close(self) -> None:
        """Stop receiving results (unsubscribes when nobody else listens)."""
        if self._done:
            return
        self._done = True
        self._queue.put_nowait(_END)
        if self._query is not None:
            self._core.unsubscribe(self._query, self)

    async def __aenter__(self) -> AsyncSubscription:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()
