"""``.filter(lambda q: ...)``: predicates evaluated on each scanned document.

Comparisons use Convex's total order (so ``Int64(1)`` and ``1`` differ and a
missing field is smaller than ``None``). Arithmetic works on two float64
numbers or two ``Int64`` values; int64 overflow and division by zero fail.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from livebase.database.catalog import get_path
from livebase.database.errors import DatabaseError
from livebase.values.int64 import INT64_MAX, INT64_MIN, Int64
from livebase.values.model import float_to_number, normalize_value, type_name
from livebase.values.sort_key import sort_key

Evaluator = Callable[[dict[str, Any]], Any]


class Expression:
    """A node of a filter expression; build them with the ``q`` methods."""

    __slots__ = ("evaluate", "text")

    def __init__(self, evaluate: Evaluator, text: str) -> None:
        self.evaluate = evaluate
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def __bool__(self) -> bool:
        raise DatabaseError(
            f"a filter expression ({self.text}) was used as a Python bool; combine expressions "
            "with q.and_(), q.or_() and q.not_() instead of and/or/not"
        )


def _expr(x: Any) -> Expression:
    if isinstance(x, Expression):
        return x
    value = normalize_value(x, where="filter value")
    return Expression(lambda _doc: value, repr(value))


def _is_f64(x: Any) -> bool:
    t = type(x)
    return t is int or t is float


def _arith(name: str, a: Any, b: Any) -> Any:
    if type(a) is Int64 and type(b) is Int64:
        x, y = int(a), int(b)
        if name == "add":
            r = x + y
        elif name == "sub":
            r = x - y
        elif name == "mul":
            r = x * y
        elif name in ("div", "mod"):
            if y == 0:
                raise DatabaseError(f"q.{name}(): int64 division by zero")
            q = abs(x) // abs(y) * (1 if (x < 0) == (y < 0) else -1)
            r = q if name == "div" else x - q * y
        else:  # pragma: no cover
            raise AssertionError(name)
        if not INT64_MIN <= r <= INT64_MAX:
            raise DatabaseError(f"q.{name}(): int64 overflow")
        return Int64(r)
    if _is_f64(a) and _is_f64(b):
        fx, fy = float(a), float(b)
        f: float
        if name == "add":
            f = fx + fy
        elif name == "sub":
            f = fx - fy
        elif name == "mul":
            f = fx * fy
        elif name == "div":
            f = fx / fy if fy != 0 else (math.nan if fx == 0 or fx != fx else math.copysign(math.inf, fx) * math.copysign(1.0, fy))
        else:
            f = math.fmod(fx, fy) if fy != 0 else math.nan
        return float_to_number(f)
    raise DatabaseError(
        f"q.{name}() needs two numbers of the same type (both float64 or both Int64), "
        f"got {type_name(a)} and {type_name(b)}"
    )


class FilterBuilder:
    """The ``q`` handed to a ``filter`` lambda."""

    __slots__ = ()

    def field(self, path: str) -> Expression:
        if not isinstance(path, str) or not path:
            raise DatabaseError(f"q.field() takes a field path like 'a.b', got {path!r}")
        parts = tuple(path.split("."))
        return Expression(lambda doc: get_path(doc, parts), f"q.field({path!r})")

    def _compare(self, name: str, a: Any, b: Any, test: Callable[[bytes, bytes], bool]) -> Expression:
        ea, eb = _expr(a), _expr(b)
        fa, fb = ea.evaluate, eb.evaluate
        return Expression(lambda doc: test(sort_key(fa(doc)), sort_key(fb(doc))), f"q.{name}({ea}, {eb})")

    def eq(self, a: Any, b: Any) -> Expression:
        return self._compare("eq", a, b, lambda x, y: x == y)

    def neq(self, a: Any, b: Any) -> Expression:
        return self._compare("neq", a, b, lambda x, y: x != y)

    def lt(self, a: Any, b: Any) -> Expression:
        return self._compare("lt", a, b, lambda x, y: x < y)

    def lte(self, a: Any, b: Any) -> Expression:
        return self._compare("lte", a, b, lambda x, y: x <= y)

    def gt(self, a: Any, b: Any) -> Expression:
        return self._compare("gt", a, b, lambda x, y: x > y)

    def gte(self, a: Any, b: Any) -> Expression:
        return self._compare("gte", a, b, lambda x, y: x >= y)

    def _bool(self, e: Expression, name: str, doc: dict[str, Any]) -> bool:
        v = e.evaluate(doc)
        if type(v) is not bool:
            raise DatabaseError(f"q.{name}() needs boolean operands, but {e} is {type_name(v)}")
        return v

    def and_(self, *exprs: Any) -> Expression:
        es = [_expr(e) for e in exprs]
        return Expression(
            lambda doc: all(self._bool(e, "and_", doc) for e in es), f"q.and_({', '.join(map(repr, es))})"
        )

    def or_(self, *exprs: Any) -> Expression:
        es = [_expr(e) for e in exprs]
        return Expression(
            lambda doc: any(self._bool(e, "or_", doc) for e in es), f"q.or_({', '.join(map(repr, es))})"
        )

    def not_(self, expr: Any) -> Expression:
        e = _expr(expr)
        return Expression(lambda doc: not self._bool(e, "not_", doc), f"q.not_({e})")

    def _arith(self, name: str, a: Any, b: Any) -> Expression:
        ea, eb = _expr(a), _expr(b)
        fa, fb = ea.evaluate, eb.evaluate
        return Expression(lambda doc: _arith(name, fa(doc), fb(doc)), f"q.{name}({ea}, {eb})")

    def add(self, a: Any, b: Any) -> Expression:
        return self._arith("add", a, b)

    def sub(self, a: Any, b: Any) -> Expression:
        return self._arith("sub", a, b)

    def mul(self, a: Any, b: Any) -> Expression:
        return self._arith("mul", a, b)

    def div(self, a: Any, b: Any) -> Expression:
        return self._arith("div", a, b)

    def mod(self, a: Any, b: Any) -> Expression:
        return self._arith("mod", a, b)

    def neg(self, a: Any) -> Expression:
        ea = _expr(a)
        fa = ea.evaluate

        def negate(doc: dict[str, Any]) -> Any:
            x = fa(doc)
            if type(x) is Int64:
                if x == INT64_MIN:
                    raise DatabaseError("q.neg(): int64 overflow")
                return Int64(-x)
            if _is_f64(x):
                return float_to_number(-float(x))
            raise DatabaseError(f"q.neg() needs a number, got {type_name(x)}")

        return Expression(negate, f"q.neg({ea})")


def compile_filter(predicate: Callable[[FilterBuilder], Any]) -> tuple[Evaluator, str]:
    """Run the user's lambda once to build the expression.

    Returns a doc -> bool test and the expression's text (which identifies
    the filter in pagination cursors).
    """
    result = predicate(FilterBuilder())
    if isinstance(result, Expression):
        evaluate = result.evaluate
        return (lambda doc: evaluate(doc) is True), result.text
    if type(result) is bool:
        return (lambda _doc: result), repr(result)
    raise DatabaseError(
        f"a filter must return an expression built with q (like q.eq(q.field('x'), 1)), got {result!r}"
    )
