"""Validators: ``v.string()``, ``v.object({...})`` and friends.

A validator checks a (normalized) value and returns it, converted where the
type says so (``v.int64()`` turns a plain ``int`` into ``Int64``). Failures
raise ``ValidationError`` naming the path of the bad part and what was
expected, for example::

    Value does not match validator at args.channel: expected v.id("channels"), got number 3
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import orjson

from livebase.errors import LivebaseError
from livebase.values.ids import decode_id
from livebase.values.int64 import INT64_MAX, INT64_MIN, Int64
from livebase.values.model import UNDEFINED, type_name
from livebase.values.ordering import values_equal
from livebase.values.wire import to_json, to_storage_json

# Maps a table name to its table number (None if the table doesn't exist),
# so that v.id("users") can check which table an id belongs to.
TableResolver = Callable[[str], "int | None"]


class ValidationError(LivebaseError):
    code = "ArgumentValidationError"

    def __init__(self, message: str, *, code: str | None = None, path: str = "", detail: str = "") -> None:
        super().__init__(message, code=code)
        self.path = path
        self.detail = detail


class _Mismatch(Exception):
    def __init__(self, message: str) -> None:
        self.message = message
        self.path: list[str] = []


def _describe(value: Any) -> str:
    if value is UNDEFINED:
        text = "undefined"
    elif type(value) is Int64:
        # The wire form ({"$integer": base64}) would hide the number.
        text = str(int(value))
    else:
        try:
            text = orjson.dumps(to_storage_json(value), default=str).decode()
        except (TypeError, ValueError):  # not a normalized value (a huge int, a set...)
            text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    kind = type_name(value)
    return kind if text == kind else f"{kind} {text}"


def _no_tables(_name: str) -> int | None:
    return None


class Validator:
    """Base class. ``is_optional`` is only meaningful as an object field."""

    is_optional = False
    kind = "any"

    def check(self, value: Any, tables: TableResolver = _no_tables) -> Any:
        raise NotImplementedError

    def expected(self) -> str:
        return repr(self)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind}

    def _fail(self, value: Any) -> _Mismatch:
        return _Mismatch(f"expected {self.expected()}, got {_describe(value)}")

    def validate(self, value: Any, *, where: str = "value", tables: TableResolver = _no_tables) -> Any:
        """Check ``value``; raise ``ValidationError`` with the path on failure."""
        try:
            return self.check(value, tables)
        except _Mismatch as e:
            path = where + "".join(reversed(e.path))
            raise ValidationError(
                f"Value does not match validator at {path}: {e.message}", path=path, detail=e.message
            ) from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Validator) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(orjson.dumps(self.to_json(), option=orjson.OPT_SORT_KEYS))


class _String(Validator):
    kind = "string"

    def check(self, value: Any, tables: TableResolver = _no_tables) -> Any:
        if type(value) is not str:
            raise self._fail(value)
        return value

    def __repr__(self) -> str:
        return "v.string()"


class _Number(Validator):
    kind = "number"

    def check(self, value: Any, tables: TableResolver = _no_tables) -> Any:
        t = type(value)
        if t is not int and t is not float:
            raise self._fail(value)
        return value

    def __repr__(self) -> str:
        return "v.number()"


class _Int64(Validator):
    kind = "bigint"

    def check(self, value: Any, tables: TableResolver = _no_tables) -> Any:
        t = type(value)
        if t is Int64:
            return value
        # A plain int is a float64 in the value model, but one that is
        # integral converts exactly; outside the int64 range it is a mismatch.
        if t is int and INT64_MIN <= value <= INT64_MAX:
            return Int64(value)
        if t is float and math.isfinite(value) and value.is_integer() and INT64_MIN <= value < 2**63:
            return Int64(int(value))
        raise self._fail(value)

    def __repr__(self) -> str:
        return "v.int64()"


class _Boolean(Validator):
    kind = "boolean"

    def check(self, value: Any, tables: TableResolver = _no_tables) -> Any:
        if type(value) is not bool:
            raise self._fail(value)
        return value

    def __repr__(self) -> str:
        return "v.boolean()"


class _Null(Validator):
    kind = "null"

    def check(self, value: Any, tables: TableResolver = _no_tables) -> Any:
        if value is not None:
            raise self._fail(value)
        return value

    def __repr__(self) -> str:
        return "v.null()"


class _Bytes(Validator):
    kind = "bytes"

    def check(self, value: Any, tables: TableResolver = _no_tables) -> Any:
        if type(value) is not bytes:
            raise self._fail(value)
        return value

    def __repr__(self) -> str:
        return "v.bytes()"


class _Any(Validator):
    kind = "any"

    def check(self, value: Any, tables: TableResolver = _no_tables) -> Any:
        return value

    def __repr__(self) -> str:
        return "v.any()"


class _Id(Validator):
    kind = "id"

    def __init__(self, table: str) -> None:
        if not isinstance(table, str) or not table:
            raise TypeError("v.id() needs a table name")
        self.table = table

    def check(self, value: Any, tables: TableResolver = _no_tables) -> Any:
        if type(value) is not str:
            raise self._fail(value)
        decoded = decode_id(value)
        if decoded is None:
            raise _Mismatch(f"expected {self.expected()}, got string {value[:60]!r}, which is not a document id")
        if decoded.table_number != tables(self.table):
            raise _Mismatch(f"expected {self.expected()}, got an id of another table: {value!r}")
        return value

    def to_json(self) -> dict[str, Any]:
        return {"type": "id", "tableName": self.table}

    def __repr__(self) -> str:
        return f'v.id("{self.table}")'


class _Literal(Validator):
    kind = "literal"

    def __init__(self, value: Any) -> None:
        if type(value) not in (str, int, float, bool, Int64) and value is not None:
            raise TypeError("v.literal() takes a string, number, Int64 or boolean")
        self.value = value

    def check(self, value: Any, tables: TableResolver = _no_tables) -> Any:
        if not values_equal(value, self.value):
            raise self._fail(value)
        return value

    def to_json(self) -> dict[str, Any]:
        return {"type": "literal", "value": to_json(self.value)}

    def __repr__(self) -> str:
        return f"v.literal({self.value!r})"


class _Optional(Validator):
    is_optional = True

    def __init__(self, inner: Validator) -> None:
        self.inner = _coerce(inner)
        self.kind = self.inner.kind

    def check(self, value: Any, tables: TableResolver = _no_tables) -> Any:
        if value is UNDEFINED:
            return value
        return self.inner.check(value, tables)

    def expected(self) -> str:
        return self.inner.expected()

    def to_json(self) -> dict[str, Any]:
        return self.inner.to_json()

    def __repr__(self) -> str:
        return f"v.optional({self.inner!r})"


class _Array(Validator):
    kind = "array"

    def __init__(self, item: Validator) -> None:
        self.item = _coerce(item)

    def check(self, value: Any, tables: TableResolver = _no_tables) -> Any:
        if type(value) is not list:
            raise self._fail(value)
        item = self.item
        if isinstance(item, _Any):
            return value
        out = []
        for i, element in enumerate(value):
            try:
                out.append(item.check(element, tables))
            except _Mismatch as e:
                e.path.append(f"[{i}]")
                raise
        return out

    def to_json(self) -> dict[str, Any]:
        return {"type": "array", "value": self.item.to_json()}

    def __repr__(self) -> str:
        return f"v.array({self.item!r})"


class _Object(Validator):
    kind = "object"

    def __init__(self, fields: dict[str, Validator]) -> None:
        if not isinstance(fields, dict):
            raise TypeError("v.object() takes a dict of field validators")
        self.fields = {k: _coerce(f) for k, f in fields.items()}
        self.required = [k for k, f in self.fields.items() if not f.is_optional]

    def check(self, value: Any, tables: TableResolver = _no_tables, *, allow_system: bool = False) -> Any:
        if type(value) is not dict:
            raise self._fail(value)
        fields = self.fields
        out = {}
        for k, element in value.items():
            validator = fields.get(k)
            if validator is None:
                if allow_system and k in ("_id", "_creationTime"):
                    out[k] = element
                    continue
                raise _Mismatch(f"object has the field {k!r}, which the validator does not allow "
                                f"(allowed: {', '.join(fields) or 'none'})")
            try:
                out[k] = validator.check(element, tables)
            except _Mismatch as e:
                e.path.append(f".{k}")
                raise
        for k in self.required:
            if k not in value:
                raise _Mismatch(f"object is missing the required field {k!r} ({fields[k].expected()})")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "object",
            "value": {
                k: {"fieldType": f.to_json(), "optional": f.is_optional} for k, f in self.fields.items()
            },
        }

    def expected(self) -> str:
        return "v.object({" + ", ".join(f"{k!r}: {f!r}" for k, f in self.fields.items()) + "})"

    def __repr__(self) -> str:
        return self.expected()


class _Record(Validator):
    kind = "record"

    def __init__(self, keys: Validator, values: Validator) -> None:
        self.keys = _coerce(keys)
        self.values = _coerce(values)
        if self.keys.kind not in ("string", "id", "any", "union", "literal"):
            raise TypeError("v.record() keys must be v.string(), v.id(...) or a union of literals")

    def check(self, value: Any, tables: TableResolver = _no_tables) -> Any:
        if type(value) is not dict:
            raise self._fail(value)
        out = {}
        for k, element in value.items():
            try:
                self.keys.check(k, tables)
            except _Mismatch as e:
                raise _Mismatch(f"record key {k!r} does not match {self.keys!r}: {e.message}") from None
            try:
                out[k] = self.values.check(element, tables)
            except _Mismatch as e:
                e.path.append(f".{k}")
                raise
        return out

    def to_json(self) -> dict[str, Any]:
        return {"type": "record", "keys": self.keys.to_json(), "values": {"fieldType": self.values.to_json(), "optional": False}}

    def __repr__(self) -> str:
        return f"v.record({self.keys!r}, {self.values!r})"


class _Union(Validator):
    kind = "union"

    def __init__(self, *members: Validator) -> None:
        self.members = [_coerce(m) for m in members]

    def check(self, value: Any, tables: TableResolver = _no_tables) -> Any:
        for m in self.members:
            try:
                return m.check(value, tables)
            except _Mismatch:
                continue
        raise self._fail(value)

    def to_json(self) -> dict[str, Any]:
        return {"type": "union", "value": [m.to_json() for m in self.members]}

    def __repr__(self) -> str:
        return "v.union(" + ", ".join(repr(m) for m in self.members) + ")"


def _coerce(x: Any) -> Validator:
    if isinstance(x, Validator):
        return x
    if isinstance(x, dict):
        return _Object(x)
    raise TypeError(f"expected a validator (v.string(), v.object(...), ...), got {x!r}")


class _V:
    """The ``v`` namespace of validator constructors."""

    @staticmethod
    def string() -> Validator:
        return _String()

    @staticmethod
    def number() -> Validator:
        return _Number()

    float64 = number

    @staticmethod
    def int64() -> Validator:
        return _Int64()

    bigint = int64

    @staticmethod
    def boolean() -> Validator:
        return _Boolean()

    @staticmethod
    def null() -> Validator:
        return _Null()

    @staticmethod
    def bytes() -> Validator:
        return _Bytes()

    @staticmethod
    def any() -> Validator:
        return _Any()

    @staticmethod
    def id(table: str) -> Validator:
        return _Id(table)

    @staticmethod
    def literal(value: Any) -> Validator:
        return _Literal(value)

    @staticmethod
    def optional(inner: Validator) -> Validator:
        return _Optional(inner)

    @staticmethod
    def array(item: Validator) -> Validator:
        return _Array(item)

    @staticmethod
    def object(fields: dict[str, Validator]) -> Validator:
        return _Object(fields)

    @staticmethod
    def record(keys: Validator, values: Validator) -> Validator:
        return _Record(keys, values)

    @staticmethod
    def union(*members: Validator) -> Validator:
        if not members:
            raise TypeError("v.union() needs at least one member")
        return _Union(*members)


v = _V()

ObjectValidator = _Object


def as_validator(x: Any) -> Validator:
    """Accept a validator or a dict of field validators (shorthand for v.object)."""
    return _coerce(x)


def pagination_opts_validator() -> Validator:
    """The ``paginationOpts`` argument of a paginated query, as Convex's
    clients send it (``usePaginatedQuery`` adds ``id`` and ``endCursor``)."""
    return _Object(
        {
            "numItems": _Number(),
            "cursor": _Union(_String(), _Null()),
            "endCursor": _Optional(_Union(_String(), _Null())),
            "id": _Optional(_Number()),
            "maximumRowsRead": _Optional(_Number()),
            "maximumBytesRead": _Optional(_Number()),
        }
    )
