"""Actions calling other functions, public and internal (tests/test_http_api.py)."""

from livebase import action, api, internal_action, internal_mutation, internal_query, query, v


@internal_query(args={"x": v.number()})
def secret_double(ctx, x):
    return x * 2


@internal_mutation(args={"body": v.string()})
def secret_send(ctx, body):
    return ctx.db.insert("messages", {"author": "internal", "body": body})


@internal_action(args={"x": v.number()})
async def secret_action(ctx, x):
    return x + 1


@query(args={"id": v.id("messages")})
def get_message(ctx, id):
    return ctx.db.get(id)


@action(args={"x": v.number(), "body": v.string()})
async def chain(ctx, x, body):
    print("chain started")
    doubled = await ctx.run_query("calls:secret_double", {"x": x})
    message_id = await ctx.run_mutation(api.calls.secret_send, {"body": body})
    message = await ctx.run_query("calls:get_message", {"id": message_id})
    incremented = await ctx.run_action("calls:secret_action", {"x": x})
    count = await ctx.run_query("messages:count", {})
    return {
        "doubled": doubled,
        "message_body": message["body"],
        "incremented": incremented,
        "count": count,
    }


@action(args={})
async def chain_error(ctx):
    # An AppError from a called function reaches the caller as AppError.
    return await ctx.run_query("failures:app_error", {"data": {"from": "inner"}})


@query(args={"id": v.id("accounts")})
def get_account(ctx, id):
    return ctx.db.get(id)
