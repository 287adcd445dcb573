"""Errors shared by every layer.

Each error carries a short machine code (what HTTP and the sync protocol
report) and a message written for the developer who has to act on it.
"""

from __future__ import annotations

from typing import Any


class LivebaseError(Exception):
    """Base class of every error Livebase raises on purpose."""

    code: str = "InternalError"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class InvalidValue(LivebaseError):
    """A value is not a valid Convex value (wrong type, too big, bad field name...)."""

    code = "InvalidValue"


class BadRequest(LivebaseError):
    """The request itself is malformed; answered with HTTP 400."""

    code = "BadRequest"


class AppError(Exception):
    """Raise from a function to send structured error data to the client.

    ``raise AppError({"code": "not_found"})`` reaches a Convex client as a
    ``ConvexError`` whose ``data`` is the given value. Unlike other
    exceptions, its data is never redacted.
    """

    def __init__(self, data: Any = None) -> None:
        self.data = data
        super().__init__(data if isinstance(data, str) else repr(data))
