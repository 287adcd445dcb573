"""``Client``: the Livebase client for plain scripts and threads.

It runs the same protocol core as ``AsyncClient`` on a background daemon
thread with its own event loop; every public method hands its work to that
loop and blocks (up to ``timeout`` seconds) for the answer, so any thread
may call it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from livebase.client.async_client import initial_credentials
from livebase.client.core import ClientCore, Credentials
from livebase.client.errors import ClientClosed
from livebase.client.subscription import OnError, OnUpdate, Subscription
from livebase.functions.definitions import function_path

if TYPE_CHECKING:
    from types import TracebackType

T = TypeVar("T")


class Client:
    """A connection to a Livebase (or Convex) deployment, for threaded code.

    ``Client("http://127.0.0.1:3210")`` connects on first use over the
    WebSocket sync protocol and reconnects by itself when the socket drops.
    ``auth`` is a user token (JWT), ``admin_key`` a deployment admin key.
    Every blocking method takes ``timeout`` (seconds, ``None`` = wait as
    long as it takes) and raises ``TimeoutError`` when it runs out.

    Subscription callbacks run on the client's background thread: keep
    them short, and don't call blocking client methods from them.
    """

    def __init__(self, url: str, *, auth: str | None = None, admin_key: str | None = None) -> None:
        self.url = url
        self._core = ClientCore(url, initial_credentials(auth, admin_key))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="livebase-client", daemon=True)
        self._thread.start()
        self._closed = False

    @property
    def session_id(self) -> str:
        """The session id sent in every ``Connect`` (the same across reconnects)."""
        return self._core.session_id

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError(
                "a blocking Client method was called from a subscription callback, which runs on the "
                "client's own thread and would wait for itself; hand the work to another thread"
            )
        if self._closed:
            coro.close()
            raise ClientClosed("the client is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout}s") from None

    def query(self, path: Any, args: dict[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        """Run a query once and return its result (raises ``FunctionError``)."""
        return self._run(self._core.query(path, args), timeout)

    def mutation(self, path: Any, args: dict[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        """Run a mutation and return its result.

        Returns once every subscription of this client reflects the write.
        A mutation interrupted by a lost connection is re-sent and runs
        exactly once (even if this call timed out).
        """
        return self._run(self._core.mutation(path, args), timeout)

    def action(self, path: Any, args: dict[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        """Run an action and return its result. An action interrupted by a
        lost connection is not re-sent: it raises ``ConnectionLost``."""
        return self._run(self._core.action(path, args), timeout)

    def subscribe(
        self,
        path: Any,
        args: dict[str, Any] | None = None,
        *,
        on_update: OnUpdate | None = None,
        on_error: OnError | None = None,
    ) -> Subscription:
        """Subscribe to a query: ``for value in client.subscribe(...)``.

        With ``on_update``/``on_error`` the results go to those callbacks
        (called on the client's thread) instead of the iterator.
        """
        subscription = Subscription(self._core, self._loop, function_path(path), on_update, on_error)

        async def register() -> None:
            subscription._query = self._core.subscribe(path, args, subscription)

        self._run(register(), None)
        return subscription

    def set_auth(self, token: str, *, timeout: float | None = None) -> None:
        """Act as the user of ``token`` (a JWT) from now on; returns once the
        server has accepted it, raises ``AuthError`` if it refuses it."""
        self._run(self._core.set_credentials(Credentials("User", token)), timeout)

    def set_admin_auth(self, admin_key: str, *, timeout: float | None = None) -> None:
        """Authenticate with the deployment's admin key."""
        self._run(self._core.set_credentials(Credentials("Admin", admin_key)), timeout)

    def clear_auth(self, *, timeout: float | None = None) -> None:
        """Go back to being unauthenticated."""
        self._run(self._core.set_credentials(None), timeout)

    def close(self) -> None:
        """Close the connection and stop the background thread; waiting
        calls raise ``ClientClosed`` and subscriptions stop."""
        if self._closed:
            return
        self._closed = True
        if threading.current_thread() is self._thread:
            # From a callback: finish on the loop, without waiting for ourselves.
            self._loop.create_task(self._shutdown())
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        # Closing is best effort: the loop thread is a daemon either way.
        with contextlib.suppress(Exception):
            future.result(10)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()

    async def _shutdown(self) -> None:
        try:
            await self._core.close()
        finally:
            self._loop.call_soon(self._loop.stop)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
