"""The HTTP API of PROTOCOL.md §1–2: ``/api/query``, ``/api/mutation``,
``/api/action``, ``/api/function``, ``/api/run/...``, the consistent-query
endpoints, ``/api/query_batch`` and the health endpoints.

Function failures are HTTP 200 with ``{"status": "error", ...}``; only
malformed requests get a 4xx with ``{"code", "message"}``.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from livebase import __version__
from livebase.auth.identity import Identity
from livebase.errors import InvalidValue
from livebase.functions.definitions import ACTION, MUTATION, QUERY
from livebase.functions.paths import InvalidPath, path_from_run_url
from livebase.functions.runner import Outcome, new_request_id
from livebase.server.responses import HttpError, internal_error, json_response
from livebase.values.wire import from_clean_json, from_json, to_clean_json, to_json

if TYPE_CHECKING:
    from livebase.server.app import LivebaseApp

MAX_BODY = (16 << 20) + 2000
_LONG_DIGITS = re.compile(rb"\d{19}")
_ENCODED = "convex_encoded_json"
_CLEAN = "json"
_FORMATS = {
    "convex_encoded_json": _ENCODED,
    "convex_json": _ENCODED,
    "json": _CLEAN,
    "convex_clean_json": _CLEAN,
    "export_json": _CLEAN,
}


def encode_ts(ts: int) -> str:
    return base64.b64encode(struct.pack("<Q", ts)).decode("ascii")


def decode_ts(value: Any) -> int:
    if not isinstance(value, str):
        raise HttpError(400, "InvalidTimestamp", f"ts must be a base64 string of 8 little-endian bytes, got {value!r}")
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 8:
        raise HttpError(400, "InvalidTimestamp", f"ts must be a base64 string of 8 little-endian bytes, got {value!r}")
    ts = struct.unpack("<Q", raw)[0]
    if ts >= 1 << 63:
        raise HttpError(400, "InvalidTimestamp", "ts is out of range")
    return ts


def _too_large() -> HttpError:
    return HttpError(413, "PayloadTooLarge", f"The request body is larger than the limit of {MAX_BODY} bytes")


def parse_json_body(body: bytes, *, allow_empty: bool = False) -> Any:
    if not body.strip():
        if allow_empty:
            return {}
        raise HttpError(400, "BadJsonBody", "The request body is empty; expected a JSON object")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise HttpError(400, "BadJsonBody", f"The request body is not valid JSON: {e}") from None
    if _LONG_DIGITS.search(body):
        # orjson rounds integers beyond 64 bits to floats; the stdlib parser
        # keeps them exact, so that the value checks can refuse them.
        data = json.loads(body)
    return data


async def read_json_body(request: Request, *, allow_empty: bool = False) -> Any:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit():
        if int(length) > MAX_BODY:
            raise _too_large()
        body = await request.body()  # the server stops at Content-Length
    else:
        chunks = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                raise _too_large()
            chunks.append(chunk)
        body = b"".join(chunks)
    return parse_json_body(body, allow_empty=allow_empty)


def _format_of(body: dict[str, Any], default: str) -> str:
    fmt = body.get("format")
    if fmt is None:
        return default
    if not isinstance(fmt, str) or fmt not in _FORMATS:
        raise HttpError(
            400, "BadFormat", f"Unknown format {fmt!r}; use \"convex_encoded_json\" or \"json\""
        )
    return _FORMATS[fmt]


def decode_args(raw: Any, fmt: str) -> dict[str, Any]:
    """``args`` as ``[obj]`` (positional form) or a bare object; decoded."""
    if raw is None:
        return {}
    if isinstance(raw, list):
        if len(raw) == 0:
            return {}
        if len(raw) != 1:
            raise HttpError(400, "InvalidArgs", f"args must be one object (or [object]); got an array of {len(raw)}")
        raw = raw[0]
    if not isinstance(raw, dict):
        raise HttpError(400, "InvalidArgs", f"args must be a JSON object, got {type(raw).__name__}")
    try:
        return from_json(raw) if fmt == _ENCODED else from_clean_json(raw)
    except InvalidValue as e:
        raise HttpError(400, "InvalidArgs", f"args could not be decoded: {e.message}") from None


def outcome_body(outcome: Outcome, fmt: str) -> dict[str, Any]:
    encode = to_json if fmt == _ENCODED else to_clean_json
    if outcome.ok:
        # Plain JSON is its own clean encoding: no walk needed.
        value = outcome.value if outcome.plain and fmt == _CLEAN else encode(outcome.value)
        return {"status": "success", "value": value, "logLines": outcome.log_lines}
    body: dict[str, Any] = {"status": "error", "errorMessage": outcome.error, "logLines": outcome.log_lines}
    if outcome.has_error_data:
        body["errorData"] = encode(outcome.error_data)
    return body


class HttpApi:
    def __init__(self, app: LivebaseApp) -> None:
        self.app = app

    def routes(self) -> list[Route]:
        return [
            Route("/api/query", self.query, methods=["POST"]),
            Route("/api/query", self.query_get, methods=["GET"]),
            Route("/api/mutation", self.mutation, methods=["POST"]),
            Route("/api/action", self.action, methods=["POST"]),
            Route("/api/function", self.function, methods=["POST"]),
            Route("/api/run/{path:path}", self.run, methods=["POST"]),
            Route("/api/query_ts", self.query_ts, methods=["POST"]),
            Route("/api/query_at_ts", self.query_at_ts, methods=["POST"]),
            Route("/api/query_batch", self.query_batch, methods=["POST"]),
            Route("/version", self.version, methods=["GET"]),
            Route("/instance_version", self.version, methods=["GET"]),
            Route("/instance_name", self.instance_name, methods=["GET"]),
            Route("/echo", self.echo, methods=["POST"]),
            Route("/", self.root, methods=["GET"]),
        ]

    # -- helpers -----------------------------------------------------------------

    async def _identity(self, request: Request) -> Identity | None:
        return await self.app.identity_from_header(request.headers.get("authorization"))

    # The three endpoints every client calls skip the framework: a raw ASGI
    # handler reads the body and writes the answer (the Starlette routes
    # below share the same core and serve everything else).
    FAST_PATHS: dict[str, str] = {"/api/query": QUERY, "/api/mutation": MUTATION, "/api/action": ACTION}

    async def fast_call(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = self.FAST_PATHS[scope["path"]]
        headers = scope["headers"]
        authorization = origin = length = None
        for name, value in headers:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"origin":
                origin = value
            elif name == b"content-length":
                length = value
        status = 200
        extra: list[tuple[bytes, bytes]] = []
        try:
            if length is not None and length.isdigit() and int(length) > MAX_BODY:
                raise _too_large()
            chunks = []
            size = 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > MAX_BODY:
                    raise _too_large()
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            body = parse_json_body(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            outcome, fmt = await self._execute(authorization, body, kind=kind)
            payload = orjson.dumps(outcome_body(outcome, fmt))
            extra.append((b"convex-request-id", outcome.request_id.encode()))
        except HttpError as e:
            status, payload = e.status, e.body()
        except Exception:  # noqa: BLE001 - logged by internal_error; never a traceback to the client
            error = internal_error(scope["path"])
            status, payload = error.status, error.body()
        response_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            *extra,
        ]
        if origin is not None:
            # As the CORS middleware answers the other endpoints.
            response_headers += [
                (b"access-control-allow-origin", origin),
                (b"access-control-allow-credentials", b"true"),
                (b"vary", b"Origin"),
            ]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": payload})

    async def _call(
        self,
        request: Request,
        body: Any,
        *,
        kind: str | None,
        path: str | None = None,
        default_format: str = _CLEAN,
    ) -> Response:
        outcome, fmt = await self._execute(
            request.headers.get("authorization"), body, kind=kind, path=path, default_format=default_format
        )
        return self._respond(outcome, fmt)

    def _respond(self, outcome: Outcome, fmt: str) -> Response:
        return json_response(outcome_body(outcome, fmt), headers={"Convex-Request-Id": outcome.request_id})

    async def _execute(
        self,
        authorization: str | None,
        body: Any,
        *,
        kind: str | None,
        path: str | None = None,
        default_format: str = _CLEAN,
    ) -> tuple[Outcome, str]:
        if not isinstance(body, dict):
            raise HttpError(400, "BadJsonBody", f"The request body must be a JSON object, got {type(body).__name__}")
        identity = await self.app.identity_from_header(authorization)
        fmt = _format_of(body, default_format)
        if path is None:
            path = body.get("path")
            if not isinstance(path, str):
                raise HttpError(
                    400, "BadConvexFunctionIdentifier", 'The request body needs "path": "module:function"'
                )
        component = body.get("componentPath")
        if component not in (None, ""):
            raise HttpError(400, "ComponentsNotSupported", "Livebase has no components; leave componentPath empty")
        args = decode_args(body.get("args"), fmt)
        return await self._run(path, args, kind=kind, identity=identity), fmt

    async def _run(self, path: str, args: dict[str, Any], *, kind: str | None, identity: Identity | None) -> Outcome:
        try:
            return await self.app.call(path, args, kind=kind, identity=identity, request_id=new_request_id())
        except InvalidPath as e:
            raise HttpError(400, e.code, e.message) from None

    # -- endpoints ---------------------------------------------------------------

    async def query(self, request: Request) -> Response:
        return await self._call(request, await read_json_body(request), kind=QUERY)

    async def mutation(self, request: Request) -> Response:
        return await self._call(request, await read_json_body(request), kind=MUTATION)

    async def action(self, request: Request) -> Response:
        return await self._call(request, await read_json_body(request), kind=ACTION)

    async def function(self, request: Request) -> Response:
        return await self._call(request, await read_json_body(request), kind=None)

    async def run(self, request: Request) -> Response:
        try:
            path = path_from_run_url(request.path_params["path"])
        except InvalidPath as e:
            raise HttpError(400, e.code, e.message) from None
        body = await read_json_body(request, allow_empty=True)
        return await self._call(request, body, kind=None, path=path, default_format=_CLEAN)

    async def query_get(self, request: Request) -> Response:
        params = request.query_params
        path = params.get("path")
        if not path:
            raise HttpError(400, "BadConvexFunctionIdentifier", "GET /api/query needs ?path=module:function")
        raw_args = params.get("args")
        try:
            args = orjson.loads(raw_args) if raw_args else {}
        except orjson.JSONDecodeError as e:
            raise HttpError(400, "InvalidArgs", f"?args is not valid JSON: {e}") from None
        body = {"path": path, "args": args, "format": params.get("format")}
        return await self._call(request, body, kind=QUERY)

    async def query_ts(self, request: Request) -> Response:
        await read_json_body(request, allow_empty=True)
        with self.app.db.snapshot() as snap:
            ts = snap.ts
        return json_response({"ts": encode_ts(ts)})

    async def query_at_ts(self, request: Request) -> Response:
        body = await read_json_body(request)
        if not isinstance(body, dict):
            raise HttpError(400, "BadJsonBody", "The request body must be a JSON object")
        ts = decode_ts(body.get("ts"))
        outcome, fmt = await self._execute(request.headers.get("authorization"), body, kind=QUERY)
        # The query ran at the latest snapshot; its result holds at ``ts``
        # only if nothing it read changed in between.
        if outcome.read_set is not None:
            committer = self.app.db.committer
            if ts > outcome.ts and ts > committer.last_ts:
                raise HttpError(400, "InvalidTimestamp", "ts is in the future")
            if ts < outcome.ts and committer.changed_between(outcome.read_set, ts, outcome.ts):
                raise HttpError(
                    409,
                    "TimestampTooOld",
                    "The data this query reads changed after the requested ts; fetch a new ts and retry",
                )
        return self._respond(outcome, fmt)

    async def query_batch(self, request: Request) -> Response:
        body = await read_json_body(request)
        queries = body.get("queries") if isinstance(body, dict) else None
        if not isinstance(queries, list):
            raise HttpError(400, "BadJsonBody", 'The request body must be {"queries": [...]}')
        identity = await self._identity(request)
        prepared = []
        for q in queries:
            if not isinstance(q, dict) or not isinstance(q.get("path"), str):
                raise HttpError(400, "BadJsonBody", 'each query needs "path" and "args"')
            fmt = _format_of(q, _CLEAN)
            prepared.append((q["path"], decode_args(q.get("args"), fmt), fmt))
        outcomes = await self.app.run_queries_at_one_snapshot(
            [(path, args) for path, args, _ in prepared], identity
        )
        return json_response(
            {"results": [outcome_body(o, fmt) for o, (_, _, fmt) in zip(outcomes, prepared, strict=True)]}
        )

    async def version(self, request: Request) -> Response:
        return PlainTextResponse(__version__)

    async def instance_name(self, request: Request) -> Response:
        return PlainTextResponse(self.app.config.instance_name)

    async def echo(self, request: Request) -> Response:
        body = await request.body()
        return Response(body, media_type=request.headers.get("content-type", "application/octet-stream"))

    async def root(self, request: Request) -> Response:
        return PlainTextResponse("This Livebase deployment is running. Functions are served under /api/.")

