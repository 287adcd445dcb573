"""``AsyncClient``: the Livebase client for asyncio code."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from livebase.client.core import ClientCore, Credentials
from livebase.client.subscription import AsyncSubscription, OnError, OnUpdate
from livebase.functions.definitions import function_path

if TYPE_CHECKING:
    from types import TracebackType


def initial_credentials(auth: str | None, admin_key: str | None) -> Credentials | None:
    if auth is not None and admin_key is not None:
        raise ValueError("pass either auth= (a user token) or admin_key=, not both")
    if auth is not None:
        return Credentials("User", auth)
    if admin_key is not None:
        return Credentials("Admin", admin_key)
    return None


class AsyncClient:
    """A connection to a Livebase (or Convex) deployment for asyncio code.

    ``AsyncClient("http://127.0.0.1:3210")`` connects lazily, on first use,
    over the WebSocket sync protocol, and reconnects by itself when the
    socket drops. Use it from one event loop. ``auth`` is a user token
    (JWT), ``admin_key`` a deployment admin key.

    Function paths are strings like ``"messages:list"`` or references like
    ``api.messages.list``; arguments are a dict of Livebase values.
    """

    def __init__(self, url: str, *, auth: str | None = None, admin_key: str | None = None) -> None:
        self.url = url
        self._core = ClientCore(url, initial_credentials(auth, admin_key))

    @property
    def session_id(self) -> str:
        """The session id sent in every ``Connect`` (the same across reconnects)."""
        return self._core.session_id

    async def query(self, path: Any, args: dict[str, Any] | None = None) -> Any:
        """Run a query once and return its result (raises ``FunctionError``)."""
        return await self._core.query(path, args)

    async def mutation(self, path: Any, args: dict[str, Any] | None = None) -> Any:
        """Run a mutation and return its result.

        Returns once every subscription of this client reflects the write.
        A mutation interrupted by a lost connection is re-sent and runs
        exactly once.
        """
        return await self._core.mutation(path, args)

    async def action(self, path: Any, args: dict[str, Any] | None = None) -> Any:
        """Run an action and return its result. An action interrupted by a
        lost connection is not re-sent: it raises ``ConnectionLost``."""
        return await self._core.action(path, args)

    def subscribe(
        self,
        path: Any,
        args: dict[str, Any] | None = None,
        *,
        on_update: OnUpdate | None = None,
        on_error: OnError | None = None,
    ) -> AsyncSubscription:
        """Subscribe to a query: ``async for value in client.subscribe(...)``.

        With ``on_update``/``on_error`` the results go to those callbacks
        (plain functions or coroutine functions) instead.
        """
        subscription = AsyncSubscription(self._core, function_path(path), on_update, on_error)
        subscription._query = self._core.subscribe(path, args, subscription)
        return subscription

    async def set_auth(self, token: str) -> None:
        """Act as the user of ``token`` (a JWT) from now on; returns once the
        server has accepted it, raises ``AuthError`` if it refuses it."""
        await self._core.set_credentials(Credentials("User", token))

    async def set_admin_auth(self, admin_key: str) -> None:
        """Authenticate with the deployment's admin key."""
        await self._core.set_credentials(Credentials("Admin", admin_key))

    async def clear_auth(self) -> None:
        """Go back to being unauthenticated."""
        await self._core.set_credentials(None)

    async def close(self) -> None:
        """Close the connection; waiting calls raise ``ClientClosed`` and
        subscriptions stop."""
        await self._core.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()
