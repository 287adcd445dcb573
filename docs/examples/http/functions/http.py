import hashlib
import hmac

from starlette.responses import JSONResponse, Response, StreamingResponse

from livebase import HttpRouter

http = HttpRouter()

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST",
    "Access-Control-Allow-Headers": "Content-Type",
}


@http.route(path="/messages", method="POST")
async def post_message(ctx, request):
    body = await request.json()
    message_id = await ctx.run_mutation("messages:send", {"author": body["author"], "body": body["body"]})
    return JSONResponse({"id": message_id}, status_code=201, headers=CORS)


@http.route(path="/messages", method="GET")
async def get_messages(ctx, request):
    messages = await ctx.run_query("messages:list")
    return JSONResponse(messages, headers=CORS)


@http.route(path="/messages", method="OPTIONS")
async def messages_preflight(ctx, request):
    return Response(status_code=204, headers=CORS)


@http.route(path="/files", method="POST")
async def upload(ctx, request):
    # The body streams into storage; it is never held in memory.
    storage_id = await ctx.storage.store(request.stream(), content_type=request.headers.get("content-type"))
    return {"storageId": storage_id}


@http.route(path_prefix="/files/", method="GET")
async def download(ctx, request):
    storage_id = ctx.storage.normalize_id(request.url.path.removeprefix("/files/"))
    file = None if storage_id is None else await ctx.storage.open(storage_id)
    if file is None:
        return JSONResponse({"error": "no such file"}, status_code=404)
    return StreamingResponse(file, media_type=file.content_type, headers={"Content-Length": str(file.size)})


@http.route(path="/me", method="GET")
async def me(ctx, request):
    user = ctx.auth.get_user_identity()
    return {"subject": user.subject if user else None}


@http.route(path="/webhooks/payments", method="POST", auth=False)
async def payments_webhook(ctx, request):
    # auth=False: the sender's Authorization header is ours to check.
    secret = ctx.env.get("PAYMENTS_SECRET", "").encode()
    payload = await request.body()
    expected = "Bearer " + hmac.new(secret, payload, hashlib.sha256).hexdigest()
    if not secret or not hmac.compare_digest(request.headers.get("authorization", ""), expected):
        print("refused a payments webhook with a bad signature")
        return Response("bad signature", status_code=401)
    await ctx.run_mutation("messages:send", {"author": "payments", "body": payload.decode()})
    return "ok"
