"""Livebase's own Python client: ``Client`` for threads, ``AsyncClient`` for asyncio.

Both speak the Convex WebSocket sync protocol: one-shot queries,
mutations with read-your-writes, actions, live subscriptions, auth, and
automatic reconnects that re-send unanswered mutations exactly once.
"""

from livebase.client.async_client import AsyncClient
from livebase.client.errors import (
    AppErrorResponse,
    AuthError,
    ClientClosed,
    ClientConnectionError,
    ClientError,
    ConnectionLost,
    FunctionError,
)
from livebase.client.subscription import AsyncSubscription, Subscription
from livebase.client.sync_client import Client

__all__ = [
    "AppErrorResponse",
    "AsyncClient",
    "AsyncSubscription",
    "AuthError",
    "Client",
    "ClientClosed",
    "ClientConnectionError",
    "ClientError",
    "ConnectionLost",
    "FunctionError",
    "Subscription",
]
