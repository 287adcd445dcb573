"""Every value type, in and out of each kind of function."""

import math

from livebase import Int64, action, mutation, query, v


@query(args={"value": v.any()})
def echo(ctx, value):
    return value


@mutation(args={"value": v.any()})
def echo_mutation(ctx, value):
    return value


@action(args={"value": v.any()})
async def echo_action(ctx, value):
    return value


def _kind(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, Int64):
        return "int64"
    if isinstance(value, float) and math.isnan(value):
        return "number:nan"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, list):
        return [_kind(x) for x in value]
    return {k: _kind(x) for k, x in value.items()}


@query(args={"value": v.any()})
def kinds(ctx, value):
    """The server-side type of every part of ``value``."""
    return _kind(value)
