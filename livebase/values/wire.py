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
    """Encode a (normalized) value as convex_encoded_json-ready Python data.

    Numbers go out as JSON floats (``42.0``, not ``42``) like Convex sends
    them: the official Python client refuses JSON integers.
    """
    t = type(value)
    if t is str or value is None or t is bool:
        return value
    if t is int:
        return float(value)  # exact: normalized ints are within ±2**53
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


def to_storage_json(value: Any) -> Any:
    """Like ``to_json`` but integral numbers stay JSON integers, so that
    stored documents decode without a walk (see ``codec``)."""
    t = type(value)
    if t is str or t is int or value is None or t is bool:
        return value
    if t is float:
        return _special_float(value) if _is_special(value) else value
    if t is dict:
        return {k: to_storage_json(v) for k, v in value.items()}
    if t is list:
        return [to_storage_json(v) for v in value]
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


# JSON deeper than this can't be a valid value (values nest at most 16
# levels); refusing early keeps the decoders' recursion bounded.
MAX_JSON_DEPTH = 64


def _json_int(data: int) -> int:
    """A JSON integer is a float64 number; one that float64 can't hold
    exactly is refused rather than silently rounded."""
    if -MAX_SAFE_INTEGER <= data <= MAX_SAFE_INTEGER:
        return data
    text = str(data)
    if len(text) > 40:
        text = text[:37] + "..."
    raise InvalidValue(
        f"the number {text} is outside ±2^53 and would lose precision as a float64 number; "
        'send 64-bit integers as {"$integer": <base64 of 8 little-endian bytes>} (Int64)'
    )


def _too_deep() -> InvalidValue:
    return InvalidValue(f"value is nested more than {MAX_JSON_DEPTH} levels deep")


def from_json(data: Any, _depth: int = 0) -> Any:
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
    if _depth >= MAX_JSON_DEPTH:
        raise _too_deep()
    if t is list:
        return [from_json(v, _depth + 1) for v in data]
    if t is dict:
        if len(data) == 1:
            (key,) = data
            if key[:1] == "$":
                return _decode_special(key, data[key])
        return {k: from_json(v, _depth + 1) for k, v in data.items()}
    raise InvalidValue(f"unexpected JSON element of type {t.__name__}")


def from_clean_json(data: Any, _depth: int = 0) -> Any:
    """Decode the clean ``json`` format: plain JSON, every number a float64."""
    t = type(data)
    if t is int:
        return _json_int(data)
    if t is float:
        return float_to_number(data)
    if _depth >= MAX_JSON_DEPTH and (t is list or t is dict):
        raise _too_deep()
    if t is list:
        return [from_clean_json(v, _depth + 1) for v in data]
    if t is dict:
        return {k: from_clean_json(v, _depth + 1) for k, v in data.items()}
    return data
