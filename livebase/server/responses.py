"""JSON responses and request-level error bodies (``{"code", "message"}``)."""

from __future__ import annotations

import logging
import os
from typing import Any

import orjson
from starlette.responses import Response

from livebase.errors import LivebaseError

log = logging.getLogger("livebase.server")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


def error_response(status: int, code: str, message: str) -> Response:
    return json_response({"code": code, "message": message}, status)


class HttpError(LivebaseError):
    """A request-level failure answered with ``status`` and a JSON error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message, code=code)
        self.status = status

    def body(self) -> bytes:
        return orjson.dumps({"code": self.code, "message": self.message})

    def response(self) -> Response:
        return error_response(self.status, self.code, self.message)


def internal_error(path: str) -> HttpError:
    """For an unexpected exception (call it in the ``except`` block): logs
    the traceback under a request id; the client gets only that id."""
    request_id = os.urandom(8).hex()
    log.exception("request %s to %s failed", request_id, path)
    return HttpError(500, "InternalServerError", f"[Request ID: {request_id}] Internal server error")
