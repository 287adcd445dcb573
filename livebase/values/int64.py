"""``Int64``: Convex's 64-bit integer type, as an ``int`` subclass."""

from __future__ import annotations

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class Int64(int):
    """A Convex ``int64``.

    Plain Python ``int`` values are Convex ``number`` (float64), so that a
    count reaches a JavaScript client as a number and not a BigInt. Wrap a
    value in ``Int64`` to store or send a 64-bit integer; values read from
    int64 fields come back as ``Int64``. Arithmetic returns plain ``int``.
    """

    __slots__ = ()

    def __new__(cls, value: int | float | str = 0) -> Int64:
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError(f"Int64 needs an integral value, got {value!r}")
            value = int(value)
        self = super().__new__(cls, value)
        if not INT64_MIN <= self <= INT64_MAX:
            raise ValueError(f"{int(self)} does not fit in a signed 64-bit integer")
        return self

    def __repr__(self) -> str:
        return f"Int64({int(self)})"

    __str__ = int.__repr__
