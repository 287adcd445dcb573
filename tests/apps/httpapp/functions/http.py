"""HTTP routes exercised by tests/test_http_actions.py."""

import logging
from http import HTTPStatus

from starlette.responses import JSONResponse, Response, StreamingResponse

from livebase import AppError, HttpRouter

http = HttpRouter()
log = logging.getLogger(__name__)


@http.route(path="/webhook", method="POST")
async def webhook(ctx, request):
    payload = await request.json()
    event_id = await ctx.run_mutation(
        "events:record", {"source": request.headers.get("x-source", "?"), "payload": payload}
    )
    return JSONResponse({"id": event_id}, status_code=HTTPStatus.CREATED)


@http.route(path="/webhook", method="OPTIONS")
async def webhook_preflight(ctx, request):
    return Response(
        status_code=204,
        headers={
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type",
        },
    )


@http.route(path="/events", method="GET")
async def events(ctx, request):
    return await ctx.run_query("events:list")


@http.route(path="/echo", method="POST")
async def echo(ctx, request):
    body = await request.json()
    return {"got": body, "query": dict(request.query_params), "method": request.method}


@http.route(path_prefix="/files/", method="GET")
async def files(ctx, request):
    return f"prefix /files/ got {request.url.path}"


@http.route(path_prefix="/files/special/", method="GET")
async def special_files(ctx, request):
    return f"prefix /files/special/ got {request.url.path}"


@http.route(path="/files/exact", method="GET")
async def exact_file(ctx, request):
    return "exact /files/exact"


@http.route(path="/whoami", method="GET")
async def whoami(ctx, request):
    user = ctx.auth.get_user_identity()
    return {"subject": None if user is None else user.subject}


@http.route(path="/raw-auth", method="POST", auth=False)
async def raw_auth(ctx, request):
    return {
        "authorization": request.headers.get("authorization"),
        "user": ctx.auth.get_user_identity(),
    }


@http.route(path="/boom", method="GET")
async def boom(ctx, request):
    raise ValueError("kaboom: secret detail")


@http.route(path="/app-error", method="GET")
async def app_error(ctx, request):
    raise AppError({"code": "not_allowed"})


@http.route(path="/log", method="GET")
async def logs(ctx, request):
    print("printed from an HTTP action")
    log.warning("warned from an HTTP action")
    return "logged"


@http.route(path="/bad-return", method="GET")
async def bad_return(ctx, request):
    return 42


@http.route(path="/bytes", method="GET")
async def raw_bytes(ctx, request):
    return b"\x00\x01\x02"


@http.route(path="/nothing", method="DELETE")
async def nothing(ctx, request):
    return None


@http.route(path="/stream", method="GET")
async def stream(ctx, request):
    async def parts():
        for i in range(3):
            print("streaming part", i)
            yield f"part{i};".encode()

    return StreamingResponse(parts(), media_type="text/plain")


@http.route(path="/upload", method="PUT")
async def upload(ctx, request):
    storage_id = await ctx.storage.store(
        request.stream(), content_type=request.headers.get("content-type")
    )
    return {"storageId": storage_id, "url": await ctx.storage.get_url(storage_id)}


@http.route(path="/stdlib", method="GET")
async def stdlib(ctx, request):
    return await ctx.run_query("stdlib_user:reason")
