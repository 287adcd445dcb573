"""Convex's total order over values, computed directly (not via sort keys).

``sort_key`` is what indexes use; this comparison is its independent
specification, used by tests and by code that sorts a few values in memory.
"""

from __future__ import annotations

import math
import struct
from typing import Any

from livebase.values.int64 import Int64
from livebase.values.model import UNDEFINED

_RANK_UNDEFINED, _RANK_NULL, _RANK_INT, _RANK_FLOAT = 0, 1, 2, 3
_RANK_FALSE, _RANK_TRUE, _RANK_STR, _RANK_BYTES, _RANK_ARRAY, _RANK_OBJECT = 4, 5, 6, 7, 8, 9


def _rank(v: Any) -> int:
    t = type(v)
    if v is UNDEFINED:
        return _RANK_UNDEFINED
    if v is None:
        return _RANK_NULL
    if t is Int64:
        return _RANK_INT
    if t is int or t is float:
        return _RANK_FLOAT
    if t is bool:
        return _RANK_TRUE if v else _RANK_FALSE
    if t is str:
        return _RANK_STR
    if t is bytes:
        return _RANK_BYTES
    if t is list:
        return _RANK_ARRAY
    if t is dict:
        return _RANK_OBJECT
    raise TypeError(f"not a value: {t.__name__}")


def _total_order_float(x: float) -> int:
    """Map a float to an int that orders like IEEE-754 totalOrder."""
    (bits,) = struct.unpack(">q", struct.pack(">d", x))
    return bits if bits >= 0 else -(bits & 0x7FFFFFFFFFFFFFFF) - 1


def _cmp(a: Any, b: Any) -> int:
    return (a > b) - (a < b)


def compare(a: Any, b: Any) -> int:
    """-1, 0 or 1 as ``a`` sorts before, equal to, or after ``b``."""
    ra, rb = _rank(a), _rank(b)
    if ra != rb:
        return _cmp(ra, rb)
    if ra == _RANK_INT:
        return _cmp(int(a), int(b))
    if ra == _RANK_FLOAT:
        fa, fb = float(a), float(b)
        if not (math.isnan(fa) or math.isnan(fb)) and fa != fb:
            return _cmp(fa, fb)
        return _cmp(_total_order_float(fa), _total_order_float(fb))
    if ra == _RANK_STR:
        return _cmp(a.encode("utf-8"), b.encode("utf-8"))
    if ra == _RANK_BYTES:
        return _cmp(a, b)
    if ra == _RANK_ARRAY:
        for x, y in zip(a, b, strict=False):
            c = compare(x, y)
            if c:
                return c
        return _cmp(len(a), len(b))
    if ra == _RANK_OBJECT:
        ka, kb = sorted(a), sorted(b)
        for x, y in zip(ka, kb, strict=False):
            c = _cmp(x.encode("utf-8"), y.encode("utf-8"))
            if c:
                return c
            c = compare(a[x], b[y])
            if c:
                return c
        return _cmp(len(ka), len(kb))
    return 0


def values_equal(a: Any, b: Any) -> bool:
    """Equality in Convex's sense: same type and same value (-0.0 != 0.0, NaN == NaN)."""
    return compare(a, b) == 0
