"""Values on the wire: Convex's JSON encodings (PROTOCOL.md §3).

``convex_encoded_json`` keeps every type: int64 as ``{"$integer": b64}``,
bytes as ``{"$bytes": b64}``, NaN/±inf/-0.0 as ``{"$float": b64}``.
The clean ``json`` format is lossy and meant for curl and scripts: int64
becomes a decimal string, bytes a base64 string, special floats strings.
"""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

from livebase.errors import InvalidValue
from livebase.values.int64 import Int64
from livebase.values.limits import MAX_SAFE_INTEGER
from livebase.values.model import float_to_number

_pack_i64 = struct.Struct("<q").pack
_unpack_i64 = struct.Struct("<q").unpack
_pack_f64 = struct.Struct("<d").pack
_unpack_f64 = struct.Struct("<d").unpack
_b64encode = base64.b64encode


def _special_float(x: float) -> dict[str, str]:
    return {"$float": _b64encode(_pack_f64(x)).decode("ascii")}


def _is_special(x: float) -> bool:
    return x != x or x in (math.inf, -math.inf) or (x == 0.0 and math.copysign(1.0, x) < 0)


def to_json(value: Any) -> Any:
    """Encode a (normalized) value as convex_encoded_json-ready Python data."""
    t = type(value)
    if t is str or t is int or value is None or t is bool:
        return value
    if t is float:
        return _special_float(value) if _is_special(value) else value
    if t is dict:
        return {k: to_json(v) for k, v in value.items()}
    if t is list:
        return [to_json(v) for v in value]
    if t is Int64:
        return {"$integer": _b64encode(_pack_i64(value)).decode("ascii")}
    if t is bytes:
        return {"$bytes": _b64encode(value).decode("ascii")}
    raise TypeError(f"cannot encode {t.__name__} as a Convex value")


def to_clean_json(value: Any) -> Any:
    """Encode a value in the lossy clean ``json`` format."""
    t = type(value)
    if t is str or t is int or value is None or t is bool:
        return value
    if t is float:
        if value != value:
            return "NaN"
        if value in (math.inf, -math.inf):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if t is dict:
        return {k: to_clean_json(v) for k, v in value.items()}
    if t is list:
        return [to_clean_json(v) for v in value]
    if t is Int64:
        return str(int(value))
    if t is bytes:
        return _b64encode(value).decode("ascii")
    raise TypeError(f"cannot encode {t.__name__} as a Convex value")


def _decode_b64(s: Any, kind: str) -> bytes:
    if type(s) is not str:
        raise InvalidValue(f"{kind} must hold a base64 string, got {type(s).__name__}")
    try:
        return base64.b64decode(s, validate=True)
    except ValueError:
        raise InvalidValue(f"{kind} holds invalid base64: {s[:40]!r}") from None


def _decode_special(key: str, payload: Any) -> Any:
    if key == "$integer":
        raw = _decode_b64(payload, "$integer")
        if len(raw) != 8:
            raise InvalidValue(f"$integer must encode exactly 8 bytes, got {len(raw)}")
        return Int64(_unpack_i64(raw)[0])
    if key == "$float":
        raw = _decode_b64(payload, "$float")
        if len(raw) != 8:
            raise InvalidValue(f"$float must encode exactly 8 bytes, got {len(raw)}")
        x = _unpack_f64(raw)[0]
        # Like Convex's decoders: only NaN, ±inf and -0.0 may be tagged.
        if not _is_special(x):
            raise InvalidValue(f"$float holds {x!r}, an ordinary number that must be sent as a JSON number")
        return x
    if key == "$bytes":
        return _decode_b64(payload, "$bytes")
    if key in ("$set", "$map"):
        raise InvalidValue(f"{key} values are no longer supported")
    raise InvalidValue(f"field name {key!r} must not start with '$'")


def _json_int(data: int) -> int | float:
    """A JSON integer is a float64 number (rounded beyond 2**53)."""
    if -MAX_SAFE_INTEGER <= data <= MAX_SAFE_INTEGER:
        return data
    try:
        return float_to_number(float(data))
    except OverflowError:
        raise InvalidValue(f"the number {str(data)[:40]}... is too large for a float64") from None


def from_json(data: Any) -> Any:
    """Decode convex_encoded_json data (already parsed from text) into a value.

    JSON numbers are float64: integral ones come back as ``int``.
    """
    t = type(data)
    if t is str or data is None or t is bool:
        return data
    if t is int:
        return _json_int(data)
    if t is float:
        return float_to_number(data)
    if t is list:
        return [from_json(v) for v in data]
    if t is dict:
        if len(data) == 1:
            (key,) = data
            if key[:1] == "$":
                return _decode_special(key, data[key])
        return {k: from_json(v) for k, v in data.items()}
    raise InvalidValue(f"unexpected JSON element of type {t.__name__}")


def from_clean_json(data: Any) -> Any:
    """Decode the clean ``json`` format: plain JSON, every number a float64."""
    t = type(data)
    if t is int:
        return _json_int(data)
    if t is float:
        return float_to_number(data)
    if t is list:
        return [from_clean_json(v) for v in data]
    if t is dict:
        return {k: from_clean_json(v) for k, v in data.items()}
    return data
