from starlette.responses import JSONResponse

from livebase import HttpRouter

http = HttpRouter()


@http.route(path="/env", method="GET")
async def env(ctx, request):
    name = request.query_params["name"]
    return JSONResponse({"value": ctx.env.get(name)})
