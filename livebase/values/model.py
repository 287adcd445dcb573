"""The Convex value model in Python, and the check every value crossing a
boundary (arguments, documents, return values) goes through.

    Convex    Python
    null      None
    int64     Int64 (an int subclass)
    float64   int (integral, |x| <= 2**53) or float
    boolean   bool
    string    str
    bytes     bytes
    array     list (tuples are accepted and become lists)
    object    dict with str keys

``UNDEFINED`` stands for JavaScript's ``undefined``: dropped from objects,
and in ``db.patch`` it removes a field.
"""

from __future__ import annotations

import math
from typing import Any

from livebase.errors import InvalidValue
from livebase.values.int64 import Int64
from livebase.values.limits import (
    MAX_ARRAY_LENGTH,
    MAX_FIELD_NAME,
    MAX_OBJECT_FIELDS,
    MAX_SAFE_INTEGER,
    MAX_VALUE_DEPTH,
)


class _Undefined:
    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Any = _Undefined()


def type_name(value: Any) -> str:
    """The Convex type name of a Python value, for error messages."""
    if value is None:
        return "null"
    t = type(value)
    if t is bool:
        return "boolean"
    if t is Int64:
        return "int64"
    if t is int or t is float:
        return "number"
    if t is str:
        return "string"
    if t is bytes:
        return "bytes"
    if t is list:
        return "array"
    if t is dict:
        return "object"
    if value is UNDEFINED:
        return "undefined"
    return f"Python {t.__name__}"


class _PathError(Exception):
    """Internal: carries the path of a bad value up the recursion."""

    def __init__(self, message: str) -> None:
        self.message = message
        self.path: list[str] = []


def _loc(parts: list[str]) -> str:
    return "".join(reversed(parts))


def format_path(root: str, parts: list[str]) -> str:
    return root + _loc(parts)


def float_to_number(x: float) -> int | float:
    """Integral float64 values are handed to Python code as ``int``."""
    if x.is_integer() and -MAX_SAFE_INTEGER <= x <= MAX_SAFE_INTEGER and (x != 0.0 or math.copysign(1.0, x) > 0):
        return int(x)
    return x


# Field names repeat endlessly (every document of a table has the same
# ones); remember the valid ones instead of re-checking each time.
_valid_names: set[str] = set()
_MAX_REMEMBERED_NAMES = 100_000


def check_field_name(key: Any) -> None:
    if key in _valid_names and type(key) is str:
        return
    _check_field_name(key)
    if len(_valid_names) < _MAX_REMEMBERED_NAMES:
        _valid_names.add(key)


def _check_field_name(key: Any) -> None:
    if type(key) is not str:
        raise _PathError(f"object keys must be strings, got {type(key).__name__} {key!r}")
    if not key:
        raise _PathError("field names must not be empty")
    if len(key) > MAX_FIELD_NAME:
        raise _PathError(f"field name {key[:40]!r}... is longer than {MAX_FIELD_NAME} characters")
    if not (key.isascii() and key.isprintable()):
        raise _PathError(f"field name {key!r} must contain only printable ASCII characters")
    if key[0] == "$":
        raise _PathError(f"field name {key!r} must not start with '$'")


def _normalize(value: Any, depth: int, size: list[int]) -> Any:
    t = type(value)
    if t is str:
        if not value.isascii():
            try:
                size[0] += len(value.encode("utf-8")) + 2
            except UnicodeEncodeError:
                raise _PathError("string is not valid Unicode (it contains a lone surrogate)") from None
        else:
            size[0] += len(value) + 2
        return value
    if t is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            size[0] += 9
            return value
        raise _PathError(
            f"the integer {value} is outside ±2^53 and would lose precision as a float64 "
            "number; use livebase.Int64 for 64-bit integers"
        )
    if t is float:
        size[0] += 9
        if value - value != 0.0 or (value == 0.0 and math.copysign(1.0, value) < 0):
            size[1] += 1  # NaN, ±inf or -0.0: not plain JSON
        return float_to_number(value)
    if value is None or t is bool:
        size[0] += 1
        return value
    if t is dict:
        depth += 1
        if depth > MAX_VALUE_DEPTH:
            raise _PathError(f"value is nested more than {MAX_VALUE_DEPTH} levels deep")
        if len(value) > MAX_OBJECT_FIELDS:
            raise _PathError(f"object has {len(value)} fields, more than the limit of {MAX_OBJECT_FIELDS}")
        out = {}
        n = 2
        valid = _valid_names
        # Documents are mostly flat objects of ASCII strings and small
        # numbers with field names seen before: handle those inline.
        for k, v in value.items():
            if v is UNDEFINED:
                continue
            if type(k) is not str or k not in valid:
                check_field_name(k)
            tv = type(v)
            if tv is str and v.isascii():
                n += len(v) + len(k) + 3
                out[k] = v
                continue
            if tv is int and -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER:
                n += len(k) + 10
                out[k] = v
                continue
            if tv is float and not v.is_integer() and v - v == 0.0:  # finite, not integral
                n += len(k) + 10
                out[k] = v
                continue
            try:
                out[k] = _normalize(v, depth, size)
            except _PathError as e:
                e.path.append(f".{k}")
                raise
            n += len(k) + 1
        size[0] += n
        return out
    if t is list or t is tuple:
        depth += 1
        if depth > MAX_VALUE_DEPTH:
            raise _PathError(f"value is nested more than {MAX_VALUE_DEPTH} levels deep")
        if len(value) > MAX_ARRAY_LENGTH:
            raise _PathError(f"array has {len(value)} elements, more than the limit of {MAX_ARRAY_LENGTH}")
        size[0] += 2
        out_list = []
        for i, v in enumerate(value):
            if v is UNDEFINED:
                raise _PathError(f"array element {i} is UNDEFINED, which is not a value")
            try:
                out_list.append(_normalize(v, depth, size))
            except _PathError as e:
                e.path.append(f"[{i}]")
                raise
        return out_list
    if t is Int64:
        size[0] += 9
        size[1] += 1
        return value
    if t is bytes:
        size[0] += len(value) + 2
        size[1] += 1
        return value
    if t is bytearray or t is memoryview:
        b = bytes(value)
        size[0] += len(b) + 2
        size[1] += 1
        return b
    if isinstance(value, int) and not isinstance(value, bool):
        if isinstance(value, Int64):
            return Int64(int(value))
        return _normalize(int(value), depth, size)
    if isinstance(value, float):
        return _normalize(float(value), depth, size)
    if isinstance(value, str):
        return _normalize(str(value), depth, size)
    if isinstance(value, dict):
        return _normalize(dict(value), depth, size)
    if value is UNDEFINED:
        raise _PathError("UNDEFINED is not a value here")
    raise _PathError(
        f"{type(value).__name__} is not a supported value type (use None, bool, int, float, "
        "Int64, str, bytes, list or dict)"
    )


def normalize_value(value: Any, *, where: str = "value") -> Any:
    """Check ``value`` against the Convex value model and return it normalized.

    ``where`` names the value in error messages ("args", "document", ...).
    Raises ``InvalidValue`` naming the path of the first bad part.
    """
    size = [0, 0]
    try:
        return _normalize(value, 0, size)
    except _PathError as e:
        raise InvalidValue(f"Invalid value at {format_path(where, e.path)}: {e.message}") from None


def normalize_value_sized(value: Any, *, where: str = "value") -> tuple[Any, int]:
    """Like ``normalize_value`` and also returns the value's size in bytes."""
    out, size, _plain = normalize_value_checked(value, where=where)
    return out, size


def normalize_value_checked(value: Any, *, where: str = "value") -> tuple[Any, int, bool]:
    """Like ``normalize_value``; also returns the size in bytes and whether
    the value is plain JSON (no Int64, bytes, NaN, ±inf or -0.0), which the
    clean JSON format can send without converting anything."""
    size = [0, 0]
    try:
        out = _normalize(value, 0, size)
    except _PathError as e:
        raise InvalidValue(f"Invalid value at {format_path(where, e.path)}: {e.message}") from None
    return out, size[0], size[1] == 0

