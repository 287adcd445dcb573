"""Value round-trips: every Convex type in and out, and what the server saw."""

from typing import Any

from livebase import Int64, action, mutation, query, v


def _describe(value: Any) -> Any:
    """The Convex type the server decoded ``value`` as (recursively)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, Int64):
        return "int64"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, list):
        return [_describe(x) for x in value]
    return {k: _describe(x) for k, x in value.items()}


@query(args={"value": v.any()})
def echo(ctx, value):
    return value


@query(args={"value": v.any()})
def describe(ctx, value):
    return _describe(value)


@mutation(args={"value": v.any()})
def echo_mutation(ctx, value):
    return value


@action(args={"value": v.any()})
async def echo_action(ctx, value):
    return value


@query(args={
    "i": v.int64(),
    "f": v.float64(),
    "n": v.number(),
    "b": v.bytes(),
    "s": v.string(),
    "z": v.null(),
    "t": v.boolean(),
    "a": v.array(v.any()),
    "o": v.object({"x": v.any()}),
})
def typed(ctx, i, f, n, b, s, z, t, a, o):
    return {"i": i, "f": f, "n": n, "b": b, "s": s, "z": z, "t": t, "a": a, "o": o}


@query(args={})
def specials(ctx):
    """Values only encoded JSON carries exactly."""
    return {
        "max": Int64(2**63 - 1),
        "min": Int64(-(2**63)),
        "zero": Int64(0),
        "nan": float("nan"),
        "inf": float("inf"),
        "ninf": float("-inf"),
        "negzero": -0.0,
        "bytes": b"\x00\x01\xfe\xff",
        "float": 1.5,
        "int": 42,
        "unicode": "héllo wörld ✓ 🎉",
    }


@mutation(args={"value": v.any()})
def store(ctx, value):
    return ctx.db.insert("blobs", {"value": value})


@query(args={})
def stored_count(ctx):
    return len(ctx.db.query("blobs").collect())
