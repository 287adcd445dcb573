"""Functions that fail, each in a way the client must report differently."""

from livebase import AppError, action, mutation, query, v


@query(args={"data": v.any()})
def app_error(ctx, data):
    raise AppError(data)


@mutation(args={"data": v.any()})
def app_error_mutation(ctx, data):
    ctx.db.insert("messages", {"author": "app_error_mutation", "body": "rolled back"})
    raise AppError(data)


@action(args={"data": v.any()})
async def app_error_action(ctx, data):
    raise AppError(data)


@query(args={})
def crash(ctx):
    raise ValueError("boom in a query")


@mutation(args={})
def crash_mutation(ctx):
    raise ValueError("boom in a mutation")


@action(args={})
async def crash_action(ctx):
    raise ValueError("boom in an action")


@query(args={"when": v.number()})
def fails_above(ctx, when):
    """Fails while the messages table holds more than ``when`` messages."""
    n = len(ctx.db.query("messages").collect())
    if n > when:
        raise AppError({"count": n})
    return n
