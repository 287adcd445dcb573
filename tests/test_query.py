"""Queries: index ranges, order, filters, terminals and pagination.

Range and filter results are checked against a model built from
``livebase.values.compare`` (Convex's total order) over the same documents.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from livebase import UNDEFINED, Int64, define_schema, define_table
from livebase.database import Database, DatabaseError, InvalidCursor, Query, Transaction
from livebase.values import compare, sort_key
from tests.support.db import query, read, run_db, write

T = TypeVar("T")


# -- helpers -----------------------------------------------------------------------




SCHEMA = define_schema(
    {
        "items": define_table()
        .index("by_a", ["a"])
        .index("by_a_b", ["a", "b"])
        .index("by_nested", ["n.x"]),
    }
)

# Values of "a" across every type; None means the field is present and null,
# UNDEFINED that it is missing.
A_VALUES: list[Any] = [
    UNDEFINED,
    None,
    Int64(-5),
    Int64(1),
    -math.inf,
    -1,
    0,
    1,
    1.5,
    math.nan,
    False,
    True,
    "",
    "a",
    "b",
    b"\x00",
    [],
    [1],
    {},
    {"k": 1},
]


def a_of(doc: dict[str, Any]) -> Any:
    return doc.get("a", UNDEFINED)


def insert_items(t: Transaction) -> list[str]:
    ids = []
    for i, a in enumerate(A_VALUES):
        for b in (1, 2):
            doc: dict[str, Any] = {"b": b, "i": i}
            if a is not UNDEFINED:
                doc["a"] = a
            ids.append(t.insert("items", doc))
    return ids


def index_order(docs: list[dict[str, Any]], *fields: str) -> list[dict[str, Any]]:
    def key(d: dict[str, Any]) -> bytes:
        from livebase.values import tuple_key

        return tuple_key([d.get(f, UNDEFINED) for f in fields] + [d["_creationTime"], d["_id"]])

    return sorted(docs, key=key)


def with_items(tmp_path: Path, check: Callable[[Database, list[dict[str, Any]]], None]) -> None:
    async def body(db: Database) -> None:
        await db.apply_schema(SCHEMA)
        await write(db, insert_items)
        docs = read(db, lambda t: query(t, "items").collect())
        assert len(docs) == 2 * len(A_VALUES)
        check(db, docs)

    run_db(tmp_path, body)


# -- with_index validation --------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "rng", "message"),
    [
        ("by_a_b", lambda q: q.eq("b", 1), r"q\.eq\('b'\) is out of order; the next field is 'a'"),
        (
            "by_a_b",
            lambda q: q.eq("a", 1).eq("a", 2),
            r"q\.eq\('a'\) is out of order; the next field is 'b'",
        ),
        (
            "by_a_b",
            lambda q: q.gt("b", 1),
            r"q\.gt\('b'\) must be on the field after the q\.eq\(\) fields, 'a'",
        ),
        (
            "by_a_b",
            lambda q: q.eq("a", 1).lt("a", 3),
            r"must be on the field after the q\.eq\(\) fields, 'b'",
        ),
        (
            "by_a_b",
            lambda q: q.gt("a", 1).eq("b", 2),
            r"q\.eq\('b'\) must come before any range bound",
        ),
        (
            "by_a_b",
            lambda q: q.gt("a", 1).gte("a", 2),
            r"more than one lower bound \(gt/gte\) on 'a'",
        ),
        (
            "by_a_b",
            lambda q: q.lt("a", 1).lte("a", 2),
            r"more than one upper bound \(lt/lte\) on 'a'",
        ),
        ("by_a_b", lambda q: q.gt("a", 1).lt("b", 2), r"q\.lt\('b'\) must be on the field after"),
        (
            "by_a",
            lambda q: q.eq("nope", 1),
            r"q\.eq\('nope'\) is out of order; the next field is 'a'",
        ),
        (
            "by_a",
            lambda q: q.eq("a", 1).eq("_creationTime", 1.0).eq("x", 1),
            r"next field is none \(all fields are constrained\)",
        ),
        ("by_a", lambda q: q.eq(1, 1), r"q\.eq\(\) takes a field name first"),
        ("by_a", lambda q: q.eq("a", 2**60), r"q\.eq\('a', \.\.\.\).*Int64"),
        ("by_a", lambda q: q.eq("a", UNDEFINED), r"UNDEFINED is not a value"),
        ("by_a", lambda q: "something else", r"must return the q it was given"),
    ],
)
def test_with_index_range_validation(tmp_path: Path, index: str, rng: Any, message: str) -> None:
    async def body(db: Database) -> None:
        await db.apply_schema(SCHEMA)
        with pytest.raises(Exception, match=message) as info:
            read(db, lambda t: query(t, "items").with_index(index, rng))
        assert isinstance(info.value, DatabaseError) or type(info.value).__name__ == "InvalidValue"
        if "out of order" in message or "bound" in message or "field after" in message:
            assert f'index "{index}" on table "items"' in str(info.value)

    run_db(tmp_path, body)


def test_unknown_index_and_builder_misuse(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        await db.apply_schema(SCHEMA)
        txn = db.begin_read()
        try:
            with pytest.raises(DatabaseError) as info:
                query(txn, "items").with_index("by_b")
            assert str(info.value) == (
                'Index "by_b" not found on table "items" (its indexes: by_a, by_a_b, by_creation_time, by_id, by_nested)'
            )
            with pytest.raises(DatabaseError, match="only be called once"):
                query(txn, "items").with_index("by_a").with_index("by_a")
            with pytest.raises(DatabaseError, match="before filter"):
                query(txn, "items").filter(lambda q: True).with_index("by_a")
            with pytest.raises(DatabaseError, match='order\\(\\) takes "asc" or "desc"'):
                query(txn, "items").order("up")
            with pytest.raises(DatabaseError, match="only be called once"):
                query(txn, "items").order("asc").order("desc")
            with pytest.raises(DatabaseError, match="non-negative integer"):
                query(txn, "items").take(-1)
            q = query(txn, "items")
            q.collect()
            with pytest.raises(DatabaseError, match="only be run once"):
                q.collect()
            with pytest.raises(DatabaseError, match="system table"):
                query(txn, "_storage")
            with pytest.raises(DatabaseError, match="invalid table name"):
                query(txn, "bad name")
            # Querying a table that doesn't exist yet gives nothing.
            assert query(txn, "nothing_here").collect() == []
        finally:
            txn.close()

    run_db(tmp_path, body)


def test_system_fields_in_ranges(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        await db.apply_schema(SCHEMA)
        ids = await write(db, lambda t: [t.insert("items", {"a": 1, "b": 0}) for _ in range(5)])
        docs = read(db, lambda t: query(t, "items").collect())
        t2 = docs[2]["_creationTime"]
        after = read(
            db,
            lambda t: (
                query(t, "items")
                .with_index("by_creation_time", lambda q: q.gt("_creationTime", t2))
                .collect()
            ),
        )
        assert [d["_id"] for d in after] == ids[3:]
        same_a = read(
            db,
            lambda t: (
                query(t, "items")
                .with_index("by_a", lambda q: q.eq("a", 1).lte("_creationTime", t2))
                .collect()
            ),
        )
        assert [d["_id"] for d in same_a] == ids[:3]
        one = read(
            db,
            lambda t: (
                query(t, "items").with_index("by_id", lambda q: q.eq("_id", ids[1])).collect()
            ),
        )
        assert [d["_id"] for d in one] == [ids[1]]

    run_db(tmp_path, body)


# -- range semantics ----------------------------------------------------------------------

OPS = {
    "eq": lambda c: c == 0,
    "gt": lambda c: c > 0,
    "gte": lambda c: c >= 0,
    "lt": lambda c: c < 0,
    "lte": lambda c: c <= 0,
}
BOUNDS = [
    None,
    Int64(1),
    0,
    1,
    1.5,
    math.nan,
    -math.inf,
    False,
    "a",
    "",
    b"\x00",
    [],
    [1],
    {},
    -0.0,
]


def test_single_bound_ranges_match_the_model(tmp_path: Path) -> None:
    def check(db: Database, docs: list[dict[str, Any]]) -> None:
        ordered = index_order(docs, "a")
        for op, test in OPS.items():
            for bound in BOUNDS:
                expected = [d["_id"] for d in ordered if test(compare(a_of(d), bound))]
                for order in ("asc", "desc"):
                    got = read(
                        db,
                        lambda t, op=op, bound=bound, order=order: [
                            d["_id"]
                            for d in query(t, "items")
                            .with_index("by_a", lambda q: getattr(q, op)("a", bound))
                            .order(order)
                            .collect()
                        ],
                    )
                    want = expected if order == "asc" else expected[::-1]
                    assert got == want, (op, bound, order)

    with_items(tmp_path, check)


def test_two_sided_ranges_match_the_model(tmp_path: Path) -> None:
    def check(db: Database, docs: list[dict[str, Any]]) -> None:
        ordered = index_order(docs, "a")
        for low_op in ("gt", "gte"):
            for high_op in ("lt", "lte"):
                for low in (None, 0, "a", False):
                    for high in (1, "b", [], math.nan):
                        expected = [
                            d["_id"]
                            for d in ordered
                            if OPS[low_op](compare(a_of(d), low))
                            and OPS[high_op](compare(a_of(d), high))
                        ]
                        got = read(
                            db,
                            lambda t, lo=low_op, hi=high_op, low=low, high=high: [
                                d["_id"]
                                for d in query(t, "items")
                                .with_index(
                                    "by_a",
                                    lambda q: getattr(getattr(q, hi)("a", high), lo)("a", low),
                                )
                                .collect()
                            ],
                        )
                        assert got == expected, (low_op, low, high_op, high)

    with_items(tmp_path, check)


def test_eq_prefix_with_bound_on_second_field(tmp_path: Path) -> None:
    def check(db: Database, docs: list[dict[str, Any]]) -> None:
        ordered = index_order(docs, "a", "b")
        for a in ("a", Int64(1), 1, None, [1]):
            for op, test in OPS.items():
                expected = [
                    d["_id"]
                    for d in ordered
                    if compare(a_of(d), a) == 0 and test(compare(d["b"], 1))
                ]
                got = read(
                    db,
                    lambda t, a=a, op=op: [
                        d["_id"]
                        for d in query(t, "items")
                        .with_index("by_a_b", lambda q: getattr(q.eq("a", a), op)("b", 1))
                        .collect()
                    ],
                )
                assert got == expected, (a, op)
                assert len(got) == {"eq": 1, "gt": 1, "gte": 2, "lt": 0, "lte": 1}[op]

    with_items(tmp_path, check)


def test_ranges_over_strings_and_bytes_with_nul(tmp_path: Path) -> None:
    values: list[Any] = ["a", "a\x00", "a\x00b", "a\x01", "b", b"a", b"a\x00", b"a\x00\x00", b"b"]

    async def body(db: Database) -> None:
        await db.apply_schema(SCHEMA)
        await write(db, lambda t: [t.insert("items", {"a": a, "b": 1}) for a in values])
        failures = []
        for op, test in OPS.items():
            for bound in ["a", "a\x00", b"a", b"a\x00"]:
                expected = sorted((a for a in values if test(compare(a, bound))), key=sort_key)
                got = read(
                    db,
                    lambda t, op=op, bound=bound: [
                        d["a"]
                        for d in query(t, "items")
                        .with_index("by_a", lambda q: getattr(q, op)("a", bound))
                        .collect()
                    ],
                )
                if got != expected:
                    failures.append((op, bound, got, expected))
            # The same through an eq prefix on a two-field index.
            for bound in ["a", b"a"]:
                got = read(
                    db,
                    lambda t, bound=bound: [
                        d["a"]
                        for d in query(t, "items")
                        .with_index("by_a_b", lambda q: q.eq("a", bound))
                        .collect()
                    ],
                )
                if got != [bound]:
                    failures.append(("eq prefix", bound, got, [bound]))
        assert failures == []

    run_db(tmp_path, body)


def test_int64_and_float_keys_are_distinct(tmp_path: Path) -> None:
    def check(db: Database, docs: list[dict[str, Any]]) -> None:
        ints = read(
            db,
            lambda t: query(t, "items").with_index("by_a", lambda q: q.eq("a", Int64(1))).collect(),
        )
        floats = read(
            db, lambda t: query(t, "items").with_index("by_a", lambda q: q.eq("a", 1)).collect()
        )
        bools = read(
            db, lambda t: query(t, "items").with_index("by_a", lambda q: q.eq("a", True)).collect()
        )
        assert [type(d["a"]) for d in ints] == [Int64, Int64]
        assert [type(d["a"]) for d in floats] == [int, int]
        assert [d["a"] for d in bools] == [True, True]
        # Missing fields sort first, before null.
        first = read(db, lambda t: query(t, "items").with_index("by_a").first())
        assert "a" not in first
        below_null = read(
            db, lambda t: query(t, "items").with_index("by_a", lambda q: q.lt("a", None)).collect()
        )
        assert len(below_null) == 2 and all("a" not in d for d in below_null)

    with_items(tmp_path, check)


def test_nested_field_index(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        await db.apply_schema(SCHEMA)
        await write(
            db,
            lambda t: [
                t.insert("items", {"n": {"x": 2}}),
                t.insert("items", {"n": {"x": 1}}),
                t.insert("items", {"n": 5}),
                t.insert("items", {"other": 1}),
            ],
        )
        got = read(
            db, lambda t: [d.get("n") for d in query(t, "items").with_index("by_nested").collect()]
        )
        # n.x is missing for a non-object n and for a missing n: those sort first.
        assert got == [5, None, {"x": 1}, {"x": 2}]
        got = read(
            db,
            lambda t: [
                d["n"]["x"]
                for d in query(t, "items")
                .with_index("by_nested", lambda q: q.gte("n.x", 1))
                .collect()
            ],
        )
        assert got == [1, 2]

    run_db(tmp_path, body)


# -- filters ---------------------------------------------------------------------------------


def test_filter_comparisons_match_the_model(tmp_path: Path) -> None:
    def check(db: Database, docs: list[dict[str, Any]]) -> None:
        for name, test in [*OPS.items(), ("neq", lambda c: c != 0)]:
            for bound in BOUNDS:
                expected = [d["_id"] for d in docs if test(compare(a_of(d), bound))]
                got = read(
                    db,
                    lambda t, name=name, bound=bound: [
                        d["_id"]
                        for d in query(t, "items")
                        .filter(lambda q: getattr(q, name)(q.field("a"), bound))
                        .collect()
                    ],
                )
                assert got == expected, (name, bound)

    with_items(tmp_path, check)


def test_filter_type_aware_equality(tmp_path: Path) -> None:
    def check(db: Database, docs: list[dict[str, Any]]) -> None:
        def values(pred: Callable[[Any], Any]) -> list[Any]:
            return read(
                db,
                lambda t: [
                    a_of(d) for d in query(t, "items").filter(pred).collect() if d["b"] == 1
                ],
            )

        assert values(lambda q: q.eq(q.field("a"), Int64(1))) == [Int64(1)]
        assert [type(x) for x in values(lambda q: q.eq(q.field("a"), 1))] == [int]
        assert values(lambda q: q.eq(q.field("a"), True)) == [True]
        assert values(lambda q: q.eq(q.field("a"), None)) == [None]  # missing is not null
        assert values(lambda q: q.eq(q.field("a"), q.field("missing"))) == [UNDEFINED]
        assert values(lambda q: q.lt(q.field("a"), None)) == [UNDEFINED]
        assert len(values(lambda q: q.eq(q.field("a"), math.nan))) == 1
        assert values(lambda q: q.eq(q.field("a"), -0.0)) == []  # -0.0 is not 0
        assert values(lambda q: q.eq(q.field("a"), {"k": 1})) == [{"k": 1}]
        assert values(lambda q: q.eq(q.field("a.k"), 1)) == [{"k": 1}]

    with_items(tmp_path, check)


def test_filter_boolean_logic(tmp_path: Path) -> None:
    def check(db: Database, docs: list[dict[str, Any]]) -> None:
        def ids(pred: Callable[[Any], Any]) -> set[int]:
            return set(
                read(
                    db,
                    lambda t: [
                        d["i"] * 10 + d["b"] for d in query(t, "items").filter(pred).collect()
                    ],
                )
            )

        everything = {d["i"] * 10 + d["b"] for d in docs}
        low = {d["i"] * 10 + d["b"] for d in docs if d["i"] < 3}
        b1 = {d["i"] * 10 + d["b"] for d in docs if d["b"] == 1}
        assert ids(lambda q: q.lt(q.field("i"), 3)) == low
        assert ids(lambda q: q.and_(q.lt(q.field("i"), 3), q.eq(q.field("b"), 1))) == low & b1
        assert ids(lambda q: q.or_(q.lt(q.field("i"), 3), q.eq(q.field("b"), 1))) == low | b1
        assert ids(lambda q: q.not_(q.lt(q.field("i"), 3))) == everything - low
        assert ids(lambda q: q.and_()) == everything
        assert ids(lambda q: q.or_()) == set()
        assert ids(lambda q: True) == everything
        assert ids(lambda q: False) == set()
        # Several filters combine with "and".
        got = read(
            db,
            lambda t: {
                d["i"] * 10 + d["b"]
                for d in query(t, "items")
                .filter(lambda q: q.lt(q.field("i"), 3))
                .filter(lambda q: q.eq(q.field("b"), 1))
                .collect()
            },
        )
        assert got == low & b1
        # A non-boolean comparison result filters the row out, not in.
        assert ids(lambda q: q.field("b")) == set()
        with pytest.raises(DatabaseError, match="needs boolean operands"):
            ids(lambda q: q.and_(q.field("b"), True))
        with pytest.raises(DatabaseError, match="used as a Python bool"):
            ids(lambda q: q.eq(q.field("b"), 1) and q.eq(q.field("i"), 1))
        with pytest.raises(DatabaseError, match="must return an expression"):
            ids(lambda q: 1)

    with_items(tmp_path, check)


def test_filter_arithmetic(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        await write(
            db,
            lambda t: [
                t.insert(
                    "nums",
                    {
                        "i": Int64(7),
                        "j": Int64(-2),
                        "f": 7.5,
                        "g": 2,
                        "big": Int64(2**63 - 1),
                        "zero": Int64(0),
                    },
                ),
            ],
        )

        def count(pred: Callable[[Any], Any]) -> int:
            return read(db, lambda t: len(query(t, "nums").filter(pred).collect()))

        assert count(lambda q: q.eq(q.add(q.field("i"), q.field("j")), Int64(5))) == 1
        assert count(lambda q: q.eq(q.sub(q.field("i"), Int64(10)), Int64(-3))) == 1
        assert count(lambda q: q.eq(q.mul(q.field("i"), q.field("j")), Int64(-14))) == 1
        # int64 division truncates toward zero; mod has the dividend's sign.
        assert count(lambda q: q.eq(q.div(q.field("i"), q.field("j")), Int64(-3))) == 1
        assert count(lambda q: q.eq(q.mod(q.field("i"), q.field("j")), Int64(1))) == 1
        assert count(lambda q: q.eq(q.mod(q.neg(q.field("i")), Int64(2)), Int64(-1))) == 1
        assert count(lambda q: q.eq(q.neg(q.field("i")), Int64(-7))) == 1
        assert count(lambda q: q.eq(q.add(q.field("f"), q.field("g")), 9.5)) == 1
        assert count(lambda q: q.eq(q.div(q.field("f"), q.field("g")), 3.75)) == 1
        assert count(lambda q: q.eq(q.mod(q.field("f"), q.field("g")), 1.5)) == 1
        assert count(lambda q: q.eq(q.div(q.field("f"), 0), math.inf)) == 1  # float64: no error
        with pytest.raises(DatabaseError, match=r"same type.*got int64 and number"):
            count(lambda q: q.eq(q.add(q.field("i"), 1), Int64(8)))
        with pytest.raises(DatabaseError, match="got number and string"):
            count(lambda q: q.eq(q.add(q.field("f"), "x"), 1))
        with pytest.raises(DatabaseError, match="int64 overflow"):
            count(lambda q: q.eq(q.add(q.field("big"), Int64(1)), Int64(0)))
        with pytest.raises(DatabaseError, match="int64 overflow"):
            count(lambda q: q.eq(q.mul(q.field("big"), Int64(2)), Int64(0)))
        with pytest.raises(DatabaseError, match="int64 overflow"):
            count(lambda q: q.eq(q.neg(q.sub(q.neg(q.field("big")), Int64(1))), Int64(0)))
        with pytest.raises(DatabaseError, match="division by zero"):
            count(lambda q: q.eq(q.div(q.field("i"), q.field("zero")), Int64(0)))
        with pytest.raises(DatabaseError, match="division by zero"):
            count(lambda q: q.eq(q.mod(q.field("i"), Int64(0)), Int64(0)))
        with pytest.raises(DatabaseError, match="needs a number"):
            count(lambda q: q.eq(q.neg(q.field("missing")), 1))

    run_db(tmp_path, body)


# -- terminals -----------------------------------------------------------------------------


def test_terminals(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        await db.apply_schema(SCHEMA)
        ids = await write(db, lambda t: [t.insert("items", {"a": n % 3, "b": n}) for n in range(9)])

        def by_a(t: Transaction, a: Any) -> Query:
            return query(t, "items").with_index("by_a", lambda q: q.eq("a", a))

        assert read(db, lambda t: [d["b"] for d in by_a(t, 1).take(2)]) == [1, 4]
        assert read(db, lambda t: by_a(t, 1).take(0)) == []
        assert read(db, lambda t: [d["b"] for d in by_a(t, 1).take(100)]) == [1, 4, 7]
        assert read(db, lambda t: by_a(t, 2).first()["b"]) == 2
        assert read(db, lambda t: by_a(t, 2).order("desc").first()["b"]) == 8
        assert read(db, lambda t: by_a(t, 5).first()) is None
        assert read(db, lambda t: by_a(t, 5).unique()) is None
        assert read(db, lambda t: [d["b"] for d in by_a(t, 0).collect()]) == [0, 3, 6]
        assert read(db, lambda t: [d["b"] for d in by_a(t, 0)]) == [0, 3, 6]  # iteration
        assert read(db, lambda t: [d["_id"] for d in query(t, "items")]) == ids
        assert read(db, lambda t: [d["_id"] for d in query(t, "items").order("desc")]) == ids[::-1]
        assert (
            read(
                db,
                lambda t: (
                    query(t, "items")
                    .with_index("by_a_b", lambda q: q.eq("a", 1).eq("b", 4))
                    .unique()["_id"]
                ),
            )
            == ids[4]
        )
        with pytest.raises(
            DatabaseError, match="unique\\(\\) found more than one document in table 'items'"
        ) as info:
            read(db, lambda t: by_a(t, 1).unique())
        assert info.value.code == "UniqueQueryMultipleResults"
        assert ids[1] in str(info.value) and ids[4] in str(info.value)

        # Stopping an iteration early is fine.
        def partial(t: Transaction) -> list[int]:
            out = []
            for d in query(t, "items"):
                out.append(d["b"])
                if len(out) == 3:
                    break
            return out

        assert read(db, partial) == [0, 1, 2]

    run_db(tmp_path, body)


# -- pagination ------------------------------------------------------------------------------


def _walk(db: Database, make: Callable[[Transaction], Query], num: int) -> tuple[list[str], int]:
    cursor = None
    seen: list[str] = []
    pages = 0
    while True:
        result = read(db, lambda t, c=cursor: make(t).paginate({"numItems": num, "cursor": c}))
        pages += 1
        assert set(result) >= {"page", "isDone", "continueCursor"}
        assert isinstance(result["continueCursor"], str)
        seen.extend(d["_id"] for d in result["page"])
        if result["isDone"]:
            assert len(result["page"]) <= num
            # Asking again from the end cursor gives an empty, done page.
            again = read(
                db,
                lambda t, c=result["continueCursor"]: make(t).paginate(
                    {"numItems": num, "cursor": c}
                ),
            )
            assert again["page"] == [] and again["isDone"] is True
            return seen, pages
        assert len(result["page"]) == num
        cursor = result["continueCursor"]
        assert pages < 100


def test_paginate_walks_everything_in_both_orders(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        await db.apply_schema(SCHEMA)
        await write(db, lambda t: [t.insert("items", {"a": n % 10, "b": n}) for n in range(100)])
        await write(
            db, lambda t: [t.insert("items", {"a": n % 10, "b": n}) for n in range(100, 200)]
        )
        all_ids = read(db, lambda t: [d["_id"] for d in query(t, "items").collect()])
        assert len(all_ids) == 200
        for order in ("asc", "desc"):
            seen, pages = _walk(db, lambda t, o=order: query(t, "items").order(o), 7)
            assert seen == (all_ids if order == "asc" else all_ids[::-1])
            assert pages in (29, 30)  # 28 full pages + 4 rows, or an empty final page
        by_a = read(
            db, lambda t: [d["_id"] for d in query(t, "items").with_index("by_a").collect()]
        )
        for order in ("asc", "desc"):
            seen, _ = _walk(db, lambda t, o=order: query(t, "items").with_index("by_a").order(o), 7)
            assert seen == (by_a if order == "asc" else by_a[::-1])
        # A range and a filter.
        expected = read(
            db,
            lambda t: [
                d["_id"]
                for d in query(t, "items")
                .with_index("by_a", lambda q: q.gte("a", 3).lt("a", 7))
                .collect()
                if d["b"] % 2 == 0
            ],
        )
        seen, _ = _walk(
            db,
            lambda t: (
                query(t, "items")
                .with_index("by_a", lambda q: q.gte("a", 3).lt("a", 7))
                .filter(lambda q: q.eq(q.mod(q.field("b"), 2), 0))
            ),
            7,
        )
        assert seen == expected and len(seen) == 40

    run_db(tmp_path, body)


def test_paginate_while_documents_are_inserted(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        original = await write(db, lambda t: [t.insert("items", {"b": n}) for n in range(30)])
        cursor = None
        seen: list[str] = []
        for step in range(100):
            result = read(
                db, lambda t, c=cursor: query(t, "items").paginate({"numItems": 7, "cursor": c})
            )
            seen.extend(d["_id"] for d in result["page"])
            if result["isDone"]:
                break
            cursor = result["continueCursor"]
            # New rows go to the end of creation order: they show up later, once.
            await write(db, lambda t, s=step: t.insert("items", {"b": 100 + s}) if s < 3 else None)
        assert seen[:30] == original
        assert len(seen) == len(set(seen)) == 33

    run_db(tmp_path, body)


def test_paginate_cursor_errors(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        await db.apply_schema(SCHEMA)
        await write(db, lambda t: [t.insert("items", {"a": n}) for n in range(10)])
        first = read(db, lambda t: query(t, "items").paginate({"numItems": 3, "cursor": None}))
        cursor = first["continueCursor"]
        others: list[Callable[[Transaction], Query]] = [
            lambda t: query(t, "items").order("desc"),
            lambda t: query(t, "items").with_index("by_a"),
            lambda t: query(t, "items").with_index("by_a", lambda q: q.gt("a", 1)),
            lambda t: query(t, "items").filter(lambda q: q.eq(q.field("a"), 1)),
            lambda t: query(t, "other"),
        ]
        for make in others:
            with pytest.raises(InvalidCursor, match="belongs to a different query") as info:
                read(db, lambda t, make=make: make(t).paginate({"numItems": 3, "cursor": cursor}))
            assert info.value.code == "InvalidCursor"
        for garbage in ("", "abc", "!!!!", "AAAA"):
            with pytest.raises(InvalidCursor):
                read(
                    db,
                    lambda t, g=garbage: query(t, "items").paginate({"numItems": 3, "cursor": g}),
                )
        with pytest.raises(InvalidCursor):
            read(db, lambda t: query(t, "items").paginate({"numItems": 3, "cursor": 5}))
        with pytest.raises(DatabaseError, match="numItems must be a non-negative integer"):
            read(db, lambda t: query(t, "items").paginate({"numItems": -1, "cursor": None}))
        with pytest.raises(DatabaseError, match="numItems"):
            read(db, lambda t: query(t, "items").paginate({"cursor": None}))
        # The same query (rebuilt) accepts it.
        second = read(db, lambda t: query(t, "items").paginate({"numItems": 3, "cursor": cursor}))
        assert [d["a"] for d in second["page"]] == [3, 4, 5]

    run_db(tmp_path, body)


def test_tampered_cursor_is_refused(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        await write(db, lambda t: [t.insert("items", {"a": n}) for n in range(10)])
        first = read(db, lambda t: query(t, "items").paginate({"numItems": 3, "cursor": None}))
        cursor = first["continueCursor"]
        for tampered in (cursor[:-4], cursor[:-1] + ("A" if cursor[-1] != "A" else "B")):
            with pytest.raises(InvalidCursor):
                read(
                    db,
                    lambda t, c=tampered: query(t, "items").paginate({"numItems": 3, "cursor": c}),
                )

    run_db(tmp_path, body)


def test_forged_cursor_cannot_leave_the_range(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        await db.apply_schema(SCHEMA)
        await write(
            db,
            lambda t: [
                t.insert("items", {"a": owner, "b": n})
                for owner in ("alice", "bob")
                for n in range(3)
            ],
        )

        def make(t: Transaction) -> Query:
            return query(t, "items").with_index("by_a", lambda q: q.eq("a", "bob"))

        first = read(db, lambda t: make(t).paginate({"numItems": 1, "cursor": None}))
        raw = base64.urlsafe_b64decode(first["continueCursor"] + "==")
        # Same version and fingerprint, position "K" + empty key: the index start.
        forged = base64.urlsafe_b64encode(raw[:14]).decode().rstrip("=")
        try:
            page = read(db, lambda t: make(t).paginate({"numItems": 10, "cursor": forged}))
        except InvalidCursor:
            return
        assert {d["a"] for d in page["page"]} <= {"bob"}

    run_db(tmp_path, body)


def test_end_cursor_keeps_the_page_end_fixed(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        await db.apply_schema(SCHEMA)
        await write(db, lambda t: [t.insert("items", {"a": n}) for n in range(0, 100, 10)])

        def make(t: Transaction) -> Query:
            return query(t, "items").with_index("by_a")

        page1 = read(db, lambda t: make(t).paginate({"numItems": 3, "cursor": None}))
        assert [d["a"] for d in page1["page"]] == [0, 10, 20]
        end = page1["continueCursor"]
        # Rows inserted before the page's end make the page grow, not shift.
        await write(db, lambda t: [t.insert("items", {"a": 5}), t.insert("items", {"a": 15})])
        again = read(
            db, lambda t: make(t).paginate({"numItems": 3, "cursor": None, "endCursor": end})
        )
        assert [d["a"] for d in again["page"]] == [0, 5, 10, 15, 20]
        assert again["isDone"] is False
        assert again["continueCursor"] == end
        # A row after the end does not join this page but starts the next one.
        await write(db, lambda t: t.insert("items", {"a": 25}))
        again = read(
            db, lambda t: make(t).paginate({"numItems": 3, "cursor": None, "endCursor": end})
        )
        assert [d["a"] for d in again["page"]] == [0, 5, 10, 15, 20]
        page2 = read(db, lambda t: make(t).paginate({"numItems": 3, "cursor": end}))
        assert [d["a"] for d in page2["page"]] == [25, 30, 40]
        # Deleting rows shrinks the page instead.
        await write(
            db, lambda t: [t.delete(d["_id"]) for d in make(t).collect() if d["a"] in (5, 10)]
        )
        again = read(
            db, lambda t: make(t).paginate({"numItems": 3, "cursor": None, "endCursor": end})
        )
        assert [d["a"] for d in again["page"]] == [0, 15, 20]

    run_db(tmp_path, body)


def test_end_cursor_in_descending_order(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        await db.apply_schema(SCHEMA)
        await write(db, lambda t: [t.insert("items", {"a": n}) for n in range(0, 100, 10)])

        def make(t: Transaction) -> Query:
            return query(t, "items").with_index("by_a").order("desc")

        page1 = read(db, lambda t: make(t).paginate({"numItems": 3, "cursor": None}))
        assert [d["a"] for d in page1["page"]] == [90, 80, 70]
        end = page1["continueCursor"]
        await write(db, lambda t: [t.insert("items", {"a": 75}), t.insert("items", {"a": 65})])
        again = read(
            db, lambda t: make(t).paginate({"numItems": 3, "cursor": None, "endCursor": end})
        )
        assert [d["a"] for d in again["page"]] == [90, 80, 75, 70]
        page2 = read(db, lambda t: make(t).paginate({"numItems": 3, "cursor": end}))
        assert [d["a"] for d in page2["page"]] == [65, 60, 50]

    run_db(tmp_path, body)


def test_paginate_sees_own_writes(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        await write(db, lambda t: [t.insert("items", {"b": n}) for n in range(5)])

        def txn_body(t: Transaction) -> list[int]:
            t.insert("items", {"b": 99})
            page = query(t, "items").order("desc").paginate({"numItems": 2, "cursor": None})
            return [d["b"] for d in page["page"]]

        assert await write(db, txn_body) == [99, 4]

    run_db(tmp_path, body)


def test_sort_key_helper_agrees_with_index_order(tmp_path: Path) -> None:
    # Index order of a single field is the order of sort_key over its values.
    def check(db: Database, docs: list[dict[str, Any]]) -> None:
        got = read(db, lambda t: [a_of(d) for d in query(t, "items").with_index("by_a").collect()])
        keys = [sort_key(x) for x in got]
        assert keys == sorted(keys)

    with_items(tmp_path, check)
