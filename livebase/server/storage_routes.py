"""File upload and download endpoints (``/api/storage/...``).

``POST /api/storage/upload?token=...`` streams the body into a new file and
answers ``{"storageId": ...}``. ``GET /api/storage/{id}`` serves a file with
its content type, an ``ETag`` (the sha256), single byte ranges (206/416)
and ``If-None-Match`` (304); ``HEAD`` gives the same headers without a body.
"""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from livebase.files.storage import StorageError, check_content_type
from livebase.files.tokens import InvalidUploadToken, check_upload_token
from livebase.server.responses import HttpError, error_response, json_response

if TYPE_CHECKING:
    from livebase.server.app import LivebaseApp

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """``(start, end_exclusive)`` for a satisfiable single range, None to
    ignore the header (absent, malformed, several ranges: RFC 9110 lets us
    answer 200), or ``"unsatisfiable"``."""
    if not header:
        return None
    m = _RANGE.match(header)
    if m is None:
        return None
    first, last = m.group(1), m.group(2)
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - n), size
    start = int(first)
    if last and int(last) < start:
        return None  # an invalid range-spec is ignored
    if start >= size:
        return "unsatisfiable"
    end = size if not last else min(int(last) + 1, size)
    return start, end


def _etag_matches(header: str, etag: str) -> bool:
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


def storage_routes(app: LivebaseApp) -> list[BaseRoute]:
    files = app.files

    async def upload(request: Request) -> Response:
        token = request.query_params.get("token")
        if not token:
            raise HttpError(
                400,
                "MissingUploadToken",
                "POST the file to the URL generate_upload_url() returned (it has ?token=...)",
            )
        try:
            check_upload_token(app.instance_secret, token)
            content_type = check_content_type(request.headers.get("content-type"))
        except InvalidUploadToken as e:
            raise HttpError(403, e.code, e.message) from None
        except StorageError as e:
            raise HttpError(400, "InvalidContentType", e.message) from None
        try:
            staged = await files.blobs.stage(request.stream())
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is listening
        storage_id = await files.add(staged, content_type)
        return json_response({"storageId": storage_id})

    async def serve(request: Request) -> Response:
        storage_id = request.path_params["storage_id"]
        if storage_id == "upload":
            raise HttpError(
                405, "MethodNotAllowed", "Upload files with POST /api/storage/upload?token=..."
            )
        if not files.is_storage_id(storage_id):
            raise HttpError(404, "FileNotFound", f"{storage_id[:60]!r} is not a storage id")
        found = await files.open(storage_id)
        if found is None:
            raise HttpError(404, "FileNotFound", f"There is no file with storage id {storage_id}")
        doc, reader = found
        sha = doc["sha256"]
        etag = f'"{sha}"'
        size = reader.size
        headers = {
            "ETag": etag,
            "Accept-Ranges": "bytes",
            # RFC 3230 digest, as Convex sends it.
            "Digest": "sha-256=" + base64.b64encode(bytes.fromhex(sha)).decode(),
        }
        media_type = doc.get("contentType") or "application/octet-stream"
        if_none_match = request.headers.get("if-none-match")
        if if_none_match is not None and _etag_matches(if_none_match, etag):
            await reader.close()
            return Response(status_code=304, headers=headers)
        range_header = request.headers.get("range")
        if_range = request.headers.get("if-range")
        if if_range is not None and if_range.strip() != etag:
            range_header = None  # the client's partial copy is of other bytes
        rng = parse_range(range_header, size)
        if rng == "unsatisfiable":
            await reader.close()
            response = error_response(
                416,
                "RangeNotSatisfiable",
                f"The range {range_header!r} is outside the file ({size} bytes)",
            )
            response.headers["Content-Range"] = f"bytes */{size}"
            return response
        status = 200
        start, end = 0, size
        if isinstance(rng, tuple):
            start, end = rng
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        headers["Content-Length"] = str(end - start)
        if request.method == "HEAD":
            await reader.close()
            return Response(status_code=status, headers=headers, media_type=media_type)
        return StreamingResponse(
            reader.iter_range(start, end),
            status_code=status,
            headers=headers,
            media_type=media_type,
        )

    return [
        Route("/api/storage/upload", upload, methods=["POST"]),
        Route("/api/storage/{storage_id}", serve, methods=["GET", "HEAD"]),
    ]
