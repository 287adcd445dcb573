"""Order-preserving binary encoding of values (SEMANTICS.md §1).

``sort_key(a) < sort_key(b)`` (bytewise) exactly when ``a`` sorts before
``b`` in Convex's total order:

    undefined < null < int64 < float64 < false < true < string < bytes < array < object

Encodings are self-delimiting, so the concatenation of several values'
keys (an index key) sorts like the tuple of the values.
"""

from __future__ import annotations

import struct
from typing import Any

from livebase.values.int64 import Int64
from livebase.values.model import UNDEFINED

TAG_UNDEFINED = 0x01
TAG_NULL = 0x03
TAG_INT64 = 0x04
TAG_FLOAT64 = 0x0D
TAG_FALSE = 0x0E
TAG_TRUE = 0x0F
TAG_STRING = 0x10
TAG_BYTES = 0x11
TAG_ARRAY = 0x12
TAG_OBJECT = 0x15

_pack_double = struct.Struct(">d").pack
_pack_u64 = struct.Struct(">Q").pack
_unpack_u64 = struct.Struct(">Q").unpack
_SIGN = 1 << 63
_MASK = (1 << 64) - 1

_B_UNDEFINED = bytes([TAG_UNDEFINED])
_B_NULL = bytes([TAG_NULL])
_B_FALSE = bytes([TAG_FALSE])
_B_TRUE = bytes([TAG_TRUE])
_B_FLOAT = bytes([TAG_FLOAT64])
_B_INT = bytes([TAG_INT64])
_B_STRING = bytes([TAG_STRING])
_B_BYTES = bytes([TAG_BYTES])
_B_ARRAY = bytes([TAG_ARRAY])
_B_OBJECT = bytes([TAG_OBJECT])
_END = b"\x00"  # closes an array or object


def _float_bits(x: float) -> bytes:
    (bits,) = _unpack_u64(_pack_double(x))
    # IEEE total order: flip every bit of negatives, only the sign of positives.
    bits = (~bits & _MASK) if bits & _SIGN else bits | _SIGN
    return _pack_u64(bits)


def _escape(raw: bytes) -> bytes:
    if b"\x00" in raw:
        raw = raw.replace(b"\x00", b"\x00\xff")
    return raw + b"\x00"


def _encode(value: Any, out: list[bytes]) -> None:
    t = type(value)
    if t is str:
        out.append(_B_STRING)
        out.append(_escape(value.encode("utf-8")))
    elif t is int or t is float:
        out.append(_B_FLOAT)
        out.append(_float_bits(float(value)))
    elif value is None:
        out.append(_B_NULL)
    elif t is bool:
        out.append(_B_TRUE if value else _B_FALSE)
    elif t is Int64:
        out.append(_B_INT)
        out.append(_pack_u64((value + _SIGN) & _MASK))
    elif t is bytes:
        out.append(_B_BYTES)
        out.append(_escape(value))
    elif t is list:
        out.append(_B_ARRAY)
        for item in value:
            _encode(item, out)
        out.append(_END)
    elif t is dict:
        out.append(_B_OBJECT)
        for k in sorted(value):
            out.append(_escape(k.encode("utf-8")))
            _encode(value[k], out)
        out.append(_END)
    elif value is UNDEFINED:
        out.append(_B_UNDEFINED)
    else:
        raise TypeError(f"cannot build a sort key for {type(value).__name__}")


def sort_key(value: Any) -> bytes:
    """The order-preserving encoding of one value."""
    t = type(value)
    if t is str:
        return _B_STRING + _escape(value.encode("utf-8"))
    if t is int or t is float:
        return _B_FLOAT + _float_bits(float(value))
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


def tuple_key(values: list[Any] | tuple[Any, ...]) -> bytes:
    """The encoding of a tuple of values: the concatenation of their keys."""
    out: list[bytes] = []
    for v in values:
        _encode(v, out)
    return b"".join(out)


def successor(key: bytes) -> bytes:
    """The smallest key greater than ``key`` (used to close intervals)."""
    return key + b"\x00"


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with ``prefix``.

    ``None`` means "no upper bound" (the prefix is empty or all 0xFF).
    """
    p = bytearray(prefix)
    while p:
        if p[-1] != 0xFF:
            p[-1] += 1
            return bytes(p)
        p.pop()
    return None
