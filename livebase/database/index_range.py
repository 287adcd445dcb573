"""``with_index(name, lambda q: q.eq(...).gt(...))``: index range expressions.

Convex's rule, re-checked here: zero or more ``eq`` on the index fields in
order, then at most one lower bound (``gt``/``gte``) and one upper bound
(``lt``/``lte``) on the next field. The expression becomes a half-open
interval ``[start, end)`` of encoded index keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from livebase.database.catalog import IndexInfo
from livebase.database.errors import DatabaseError
from livebase.values.model import normalize_value
from livebase.values.sort_key import sort_key, tuple_key


class IndexRangeBuilder:
    """The ``q`` handed to a ``with_index`` lambda. Every method returns ``q``."""

    __slots__ = ("_ops",)

    def __init__(self) -> None:
        self._ops: list[tuple[str, str, Any]] = []

    def _add(self, op: str, field: str, value: Any) -> IndexRangeBuilder:
        if not isinstance(field, str):
            raise DatabaseError(f"q.{op}() takes a field name first, got {field!r}")
        self._ops.append((op, field, normalize_value(value, where=f"q.{op}({field!r}, ...)")))
        return self

    def eq(self, field: str, value: Any) -> IndexRangeBuilder:
        return self._add("eq", field, value)

    def gt(self, field: str, value: Any) -> IndexRangeBuilder:
        return self._add("gt", field, value)

    def gte(self, field: str, value: Any) -> IndexRangeBuilder:
        return self._add("gte", field, value)

    def lt(self, field: str, value: Any) -> IndexRangeBuilder:
        return self._add("lt", field, value)

    def lte(self, field: str, value: Any) -> IndexRangeBuilder:
        return self._add("lte", field, value)


@dataclass(frozen=True, slots=True)
class KeyRange:
    start: bytes
    end: bytes | None  # None: unbounded

    @property
    def is_empty(self) -> bool:
        return self.end is not None and self.start >= self.end

    def contains(self, key: bytes) -> bool:
        return self.start <= key and (self.end is None or key < self.end)


FULL_RANGE = KeyRange(b"", None)


def compile_range(index: IndexInfo, builder: IndexRangeBuilder | None) -> KeyRange:
    if builder is None or not builder._ops:
        return FULL_RANGE
    fields = index.range_fields
    where = f"with_index range on {index.describe()} (fields in order: {', '.join(fields)})"
    eq_values: list[Any] = []
    lower: tuple[str, Any] | None = None
    upper: tuple[str, Any] | None = None
    bound_field: str | None = None
    for op, field, value in builder._ops:
        if op == "eq":
            if lower or upper:
                raise DatabaseError(f"Invalid {where}: q.eq({field!r}) must come before any range bound")
            expected = fields[len(eq_values)] if len(eq_values) < len(fields) else None
            if field != expected:
                raise DatabaseError(
                    f"Invalid {where}: q.eq({field!r}) is out of order; the next field is "
                    + (repr(expected) if expected else "none (all fields are constrained)")
                )
            eq_values.append(value)
            continue
        expected = fields[len(eq_values)] if len(eq_values) < len(fields) else None
        if field != expected:
            raise DatabaseError(
                f"Invalid {where}: q.{op}({field!r}) must be on the field after the q.eq() fields, "
                + (repr(expected) if expected else "but every field is already constrained")
            )
        if bound_field is not None and field != bound_field:
            raise DatabaseError(f"Invalid {where}: range bounds must all be on the same field")
        bound_field = field
        if op in ("gt", "gte"):
            if lower is not None:
                raise DatabaseError(f"Invalid {where}: more than one lower bound (gt/gte) on {field!r}")
            lower = (op, value)
        else:
            if upper is not None:
                raise DatabaseError(f"Invalid {where}: more than one upper bound (lt/lte) on {field!r}")
            upper = (op, value)

    # Every key whose values start with the encoded values P is >= P and
    # < P + 0xff: what follows a complete value in a key is either the next
    # value's type tag (< 0xff) or, for a longer string or bytes value that
    # merely starts like it, the 0xff of an escaped NUL ("a" vs "a\x00").
    prefix = tuple_key(eq_values)
    if lower is None:
        start = prefix
    elif lower[0] == "gte":
        start = prefix + sort_key(lower[1])
    else:
        start = prefix + sort_key(lower[1]) + b"\xff"
    if upper is None:
        end = prefix + b"\xff" if prefix else None
    elif upper[0] == "lt":
        end = prefix + sort_key(upper[1])
    else:
        end = prefix + sort_key(upper[1]) + b"\xff"
    return KeyRange(start, end)
