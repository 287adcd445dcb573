import math

from livebase import Int64, query, v


@query(args={"value": v.any()})
def describe(ctx, value):
    """The Python type each argument arrived as."""
    if isinstance(value, dict):
        return {key: type(item).__name__ for key, item in value.items()}
    return type(value).__name__


@query(args={})
def samples(ctx):
    return {
        "count": 3,
        "ratio": 0.5,
        "whole_float": 2.0,
        "big": Int64(2**60),
        "raw": b"\x00\x01",
        "nothing": None,
        "special": [math.nan, math.inf, -0.0],
    }


@query(args={})
def too_big(ctx):
    return 2**60
