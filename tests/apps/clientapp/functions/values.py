"""Every value type, in and out of each kind of function."""

from livebase import action, mutation, query, v


@query(args={"value": v.any()})
def echo(ctx, value):
    return value


@mutation(args={"value": v.any()})
def echo_mutation(ctx, value):
    return value


@action(args={"value": v.any()})
async def echo_action(ctx, value):
    return value


@query(args={"n": v.int64(), "x": v.float64(), "data": v.bytes()})
def typed(ctx, n, x, data):
    return {"n": n, "x": x, "data": data}
