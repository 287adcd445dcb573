"""Functions that fail with AppError data or a plain exception."""

from livebase import AppError, action, mutation, query, v


@query(args={"data": v.any()})
def app_error(ctx, data):
    raise AppError(data)


@mutation(args={"data": v.any()})
def app_error_mutation(ctx, data):
    raise AppError(data)


@action(args={"data": v.any()})
async def app_error_action(ctx, data):
    raise AppError(data)


@query(args={})
def crash(ctx):
    raise ValueError("boom in a query")
