"""Call functions of a running server over plain HTTP (``httpx``), and build
the Convex wire encodings independently of Livebase's own codec."""

from __future__ import annotations

import atexit
import base64
import re
import struct
from typing import Any

import httpx

from tests.support.server import RunningServer

ENCODED = "convex_encoded_json"

# One pooled client for the whole test run: a fresh httpx.Client per
# request costs ~40 ms (its SSL context), ten times the request itself.
HTTP = httpx.Client(timeout=60)
atexit.register(HTTP.close)
REQUEST_ID_LINE = re.compile(r"^\[Request ID: [0-9a-f]{16}\] Server Error$")


def int64(n: int) -> dict[str, str]:
    """``{"$integer": ...}``: 8 bytes two's complement, little-endian."""
    return {"$integer": base64.b64encode(struct.pack("<q", n)).decode()}


def f64(x: float) -> dict[str, str]:
    """``{"$float": ...}``: 8 bytes IEEE-754, little-endian."""
    return {"$float": base64.b64encode(struct.pack("<d", x)).decode()}


def bytes_(b: bytes) -> dict[str, str]:
    return {"$bytes": base64.b64encode(b).decode()}


def decode_ts(ts: str) -> int:
    raw = base64.b64decode(ts, validate=True)
    assert len(raw) == 8, ts
    return struct.unpack("<Q", raw)[0]


def encode_ts(ts: int) -> str:
    return base64.b64encode(struct.pack("<Q", ts)).decode()


def post(
    server: RunningServer | str,
    endpoint: str,
    body: Any,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> httpx.Response:
    """POST a JSON body to ``/api/<endpoint>``."""
    url = server if isinstance(server, str) else server.url
    return HTTP.post(f"{url}/api/{endpoint}", json=body, headers=headers, timeout=timeout)


def call(
    server: RunningServer | str,
    endpoint: str,
    path: str,
    args: Any = None,
    *,
    fmt: str | None = ENCODED,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run a function; the function's response body (HTTP 200 asserted)."""
    body: dict[str, Any] = {"path": path, "args": {} if args is None else args}
    if fmt is not None:
        body["format"] = fmt
    response = post(server, endpoint, body, headers=headers)
    assert response.status_code == 200, f"{response.status_code}: {response.text}"
    data = response.json()
    assert data["status"] in ("success", "error"), data
    return data


def value(server: RunningServer | str, endpoint: str, path: str, args: Any = None, **kw: Any) -> Any:
    """Run a function that must succeed; its (still encoded) value."""
    data = call(server, endpoint, path, args, **kw)
    assert data["status"] == "success", data
    return data["value"]


def error(server: RunningServer | str, endpoint: str, path: str, args: Any = None, **kw: Any) -> dict[str, Any]:
    """Run a function that must fail; the error body."""
    data = call(server, endpoint, path, args, **kw)
    assert data["status"] == "error", data
    assert REQUEST_ID_LINE.match(data["errorMessage"].split("\n", 1)[0]), data["errorMessage"]
    return data


def error_detail(body: dict[str, Any]) -> str:
    """The part of ``errorMessage`` after the ``[Request ID: ...] Server Error`` line."""
    return body["errorMessage"].split("\n", 1)[1] if "\n" in body["errorMessage"] else ""


def assert_request_error(response: httpx.Response, status: int | None = None) -> dict[str, Any]:
    """A request-level failure: 4xx with a ``{"code", "message"}`` JSON body."""
    assert 400 <= response.status_code < 500, f"{response.status_code}: {response.text[:500]}"
    if status is not None:
        assert response.status_code == status, f"{response.status_code}: {response.text[:500]}"
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body.get("code"), str) and body["code"], body
    assert isinstance(body.get("message"), str) and body["message"], body
    assert "Traceback" not in response.text
    return body
