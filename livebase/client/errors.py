"""What the client raises: function failures, auth rejections, lost connections."""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """Base class of every error the Livebase client raises on purpose."""


class FunctionError(ClientError):
    """A query, mutation or action failed on the server.

    ``message`` is the server's error text (``[Request ID: ...] Server
    Error`` and, on a dev server, the exception); ``path`` and ``kind`` say
    which call failed; ``log_lines`` holds what the function printed.
    """

    def __init__(self, message: str, *, path: str = "", kind: str = "", log_lines: list[str] | None = None) -> None:
        self.message = message
        self.path = path
        self.kind = kind
        self.log_lines = log_lines or []
        prefix = f"{kind} {path} failed: " if path else ""
        super().__init__(prefix + message)


class AppErrorResponse(FunctionError):
    """The function raised ``livebase.AppError(data)`` (Convex's ``ConvexError``).

    ``data`` is the value it raised with, decoded (``Int64``, bytes, ...).
    """

    def __init__(self, message: str, data: Any, *, path: str = "", kind: str = "", log_lines: list[str] | None = None) -> None:
        self.data = data
        super().__init__(message, path=path, kind=kind, log_lines=log_lines)


class AuthError(ClientError):
    """The server rejected the client's token or admin key.

    The client drops the rejected credentials and carries on
    unauthenticated; calls made after the rejected token was set fail with
    this error (the server never ran them).
    """


class ClientConnectionError(ClientError, ConnectionError):
    """A connection problem (a ``ConnectionError``, so ``except ConnectionError`` works)."""


class ConnectionLost(ClientConnectionError):
    """The socket dropped while an action was running: the action may or
    may not have completed, so it is not re-sent."""


class ClientClosed(ClientConnectionError):
    """The client was closed while the call was waiting, or before it was made."""


class ProtocolViolation(ClientConnectionError):
    """The server sent something the sync protocol does not allow. The
    client logs it and starts over on a new socket; calls keep waiting."""
