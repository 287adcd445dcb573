"""JSON responses and request-level error bodies (``{"code", "message"}``)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from livebase.errors import LivebaseError


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


def error_response(status: int, code: str, message: str) -> Response:
    return json_response({"code": code, "message": message}, status)


class HttpError(LivebaseError):
    """A request-level failure answered with ``status`` and a JSON error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message, code=code)
        self.status = status

    def response(self) -> Response:
        return error_response(self.status, self.code, self.message)
