"""Read sets (SEMANTICS.md §2) and optimistic concurrency control (§4).

A transaction records, per index, the key intervals it depended on; a
commit conflicts when a write committed after it began has an old or new
index key inside one of them.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from livebase import define_schema, define_table
from livebase.database import Database, OccConflict, Transaction
from livebase.database.read_set import ReadSet
from livebase.values import IdGenerator, sort_key, successor, tuple_key
from tests.support.db import query, write
from tests.support.db import run_db as run_database

T = TypeVar("T")

SCHEMA = define_schema({"items": define_table().index("by_a", ["a"]), "notes": define_table()})


# -- helpers -----------------------------------------------------------------------


def run_db(tmp_path: Path, body: Callable[[Database], Awaitable[T]]) -> T:
    """Like tests.support.db.run_db, on a database with SCHEMA pushed."""

    async def with_schema(db: Database) -> T:
        await db.apply_schema(SCHEMA)
        return await body(db)

    return run_database(tmp_path, with_schema)


def index_id(db: Database, table: str, index: str) -> int:
    return db.catalog.table(table).indexes[index].index_id


def index_key(db: Database, table: str, index: str, doc: dict[str, Any]) -> bytes:
    return db.catalog.table(table).indexes[index].key_of(doc)


def recorded(txn: Transaction) -> ReadSet:
    """The transaction's read set after it finished (open scans recorded)."""
    txn.close()
    return txn.read_set.freeze()


async def fill(db: Database, n: int, a: Any = 1) -> list[dict[str, Any]]:
    ids = await write(db, lambda t: [t.insert("items", {"a": a, "i": i}) for i in range(n)])
    txn = db.begin_read()
    try:
        return [txn.get(i) for i in ids]
    finally:
        txn.close()


# -- what reads record ------------------------------------------------------------------


def test_get_records_a_point_on_by_id(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        present = await write(db, lambda t: t.insert("notes", {"x": 1}))
        missing = IdGenerator().new_id(db.table_number("notes"))  # type: ignore[arg-type]
        txn = db.begin_read()
        assert txn.get(present) is not None
        assert txn.get(missing) is None
        rs = recorded(txn)
        by_id = index_id(db, "notes", "by_id")
        expected = sorted(
            [
                (sort_key(present), successor(sort_key(present))),
                (sort_key(missing), successor(sort_key(missing))),
            ]
        )
        assert rs.intervals == {by_id: expected}
        assert rs.contains(by_id, sort_key(missing))
        other = IdGenerator().new_id(db.table_number("notes"))  # type: ignore[arg-type]
        assert not rs.contains(by_id, sort_key(other))

    run_db(tmp_path, body)


def test_take_records_only_the_scanned_prefix(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        docs = await fill(db, 100)
        by_a = index_id(db, "items", "by_a")
        txn = db.begin_read()
        got = query(txn, "items").with_index("by_a", lambda q: q.eq("a", 1)).take(10)
        assert [d["i"] for d in got] == list(range(10))
        rs = recorded(txn)
        key10 = index_key(db, "items", "by_a", docs[9])
        key11 = index_key(db, "items", "by_a", docs[10])
        assert rs.intervals == {by_a: [(tuple_key([1]), successor(key10))]}
        assert rs.contains(by_a, index_key(db, "items", "by_a", docs[0]))
        assert rs.contains(by_a, key10)
        assert not rs.contains(by_a, key11)
        # A new row with a = 1 lands after the 10th key: outside the read set.
        newer = {**docs[0], "_creationTime": math.inf}
        assert not rs.contains(by_a, index_key(db, "items", "by_a", newer))
        # A row before the first one (smaller creation time) is inside.
        older = {**docs[0], "_creationTime": 0.0}
        assert rs.contains(by_a, index_key(db, "items", "by_a", older))

    run_db(tmp_path, body)


def test_filtered_out_rows_are_in_the_interval(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        docs = await fill(db, 100)
        by_a = index_id(db, "items", "by_a")
        txn = db.begin_read()
        got = (
            query(txn, "items")
            .with_index("by_a", lambda q: q.eq("a", 1))
            .filter(lambda q: q.gte(q.field("i"), 50))
            .first()
        )
        assert got["i"] == 50
        rs = recorded(txn)
        for d in docs[:51]:
            assert rs.contains(by_a, index_key(db, "items", "by_a", d)), d["i"]
        assert not rs.contains(by_a, index_key(db, "items", "by_a", docs[51]))

    run_db(tmp_path, body)


def test_exhausted_scan_records_the_whole_range(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        await fill(db, 5, a=1)
        await fill(db, 5, a=3)
        by_a = index_id(db, "items", "by_a")
        txn = db.begin_read()
        assert len(query(txn, "items").with_index("by_a", lambda q: q.eq("a", 1)).take(10)) == 5
        rs = recorded(txn)
        assert len(rs.intervals[by_a]) == 1
        # Any key with a = 1 is covered, also ones before/after every existing row.
        for ct, id_ in [(0.0, ""), (math.inf, "zzzz"), (-math.inf, "")]:
            assert rs.contains(by_a, tuple_key([1, ct, id_]))
        for a in (0, 2, 3, "1", None):
            assert not rs.contains(by_a, tuple_key([a, 1.0, "x"]))
        # A full-table scan that ends records everything.
        txn = db.begin_read()
        assert len(query(txn, "items").collect()) == 10
        by_ct = index_id(db, "items", "by_creation_time")
        assert recorded(txn).intervals == {by_ct: [(b"", None)]}

    run_db(tmp_path, body)


def test_empty_range_is_recorded(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        await fill(db, 3, a=1)
        by_a = index_id(db, "items", "by_a")
        txn = db.begin_read()
        assert query(txn, "items").with_index("by_a", lambda q: q.eq("a", 2)).first() is None
        rs = recorded(txn)
        assert rs.contains(by_a, tuple_key([2, 5.0, "x"]))
        assert not rs.contains(by_a, tuple_key([1, 5.0, "x"]))

    run_db(tmp_path, body)


def test_descending_take_records_from_last_pulled_to_range_end(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        docs = await fill(db, 100)
        await fill(db, 3, a=2)
        by_a = index_id(db, "items", "by_a")
        txn = db.begin_read()
        got = query(txn, "items").with_index("by_a", lambda q: q.eq("a", 1)).order("desc").take(10)
        assert [d["i"] for d in got] == list(range(99, 89, -1))
        rs = recorded(txn)
        assert len(rs.intervals[by_a]) == 1
        start, end = rs.intervals[by_a][0]
        assert start == index_key(db, "items", "by_a", docs[90])
        assert end is not None and end > index_key(db, "items", "by_a", docs[99])
        assert not rs.contains(by_a, index_key(db, "items", "by_a", docs[89]))
        newer = {**docs[0], "_creationTime": math.inf}
        assert rs.contains(by_a, index_key(db, "items", "by_a", newer))  # up to the range end
        assert not rs.contains(by_a, tuple_key([2, 0.0, ""]))  # but not beyond it

    run_db(tmp_path, body)


def test_unconsumed_query_records_nothing(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        await fill(db, 3)
        txn = db.begin_read()
        assert query(txn, "items").take(0) == []
        query(txn, "items").with_index("by_a")  # built, never run
        assert recorded(txn).intervals == {}

    run_db(tmp_path, body)


# -- OCC ------------------------------------------------------------------------------


def test_interleaved_writers_of_the_same_document_conflict(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        note = await write(db, lambda t: t.insert("notes", {"n": 0}))
        t1, t2 = db.begin_write(), db.begin_write()
        n1 = t1.get(note)["n"]
        n2 = t2.get(note)["n"]
        t1.patch(note, {"n": n1 + 1})
        t2.patch(note, {"n": n2 + 1})
        await db.commit(t1)
        with pytest.raises(OccConflict) as info:
            await db.commit(t2)
        assert info.value.table == "notes"
        assert '"notes"' in str(info.value)
        assert info.value.code == "OptimisticConcurrencyControlFailure"
        # The lost update did not happen: only t1's increment is stored.
        t = db.begin_read()
        assert t.get(note)["n"] == 1
        t.close()

    run_db(tmp_path, body)


def test_a_read_alone_is_enough_to_conflict(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        x = await write(db, lambda t: t.insert("notes", {"n": 0}))
        y = await write(db, lambda t: t.insert("notes", {"n": 0}))
        t1, t2 = db.begin_write(), db.begin_write()
        t2.get(x)  # t2 depends on x but writes y
        t2.patch(y, {"n": 1})
        t1.patch(x, {"n": 5})
        await db.commit(t1)
        with pytest.raises(OccConflict):
            await db.commit(t2)

    run_db(tmp_path, body)


def test_disjoint_transactions_both_commit(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        x = await write(db, lambda t: t.insert("notes", {"n": 0}))
        y = await write(db, lambda t: t.insert("notes", {"n": 0}))
        t1, t2 = db.begin_write(), db.begin_write()
        t1.patch(x, {"n": t1.get(x)["n"] + 1})
        t2.patch(y, {"n": t2.get(y)["n"] + 1})
        ts1 = await db.commit(t1)
        ts2 = await db.commit(t2)
        assert ts2 > ts1
        # Pure inserts never conflict, even into the same table.
        t3, t4 = db.begin_write(), db.begin_write()
        t3.insert("notes", {"n": 3})
        t4.insert("notes", {"n": 4})
        await db.commit(t4)
        await db.commit(t3)
        t = db.begin_read()
        assert sorted(d["n"] for d in query(t, "notes").collect()) == [1, 1, 3, 4]
        t.close()

    run_db(tmp_path, body)


def test_range_reads_conflict_only_inside_their_interval(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        docs = await fill(db, 30)

        def reader() -> Transaction:
            t = db.begin_write()
            rows = query(t, "items").with_index("by_a", lambda q: q.eq("a", 1)).take(10)
            t.insert("notes", {"count": len(rows)})
            return t

        # Inserting a = 1 (after the 10th key) or a = 0 is outside the read set.
        t2 = reader()
        await write(
            db, lambda t: [t.insert("items", {"a": 1, "i": 100}), t.insert("items", {"a": 0})]
        )
        await db.commit(t2)
        # Changing a row inside the scanned prefix conflicts ...
        t2 = reader()
        await write(db, lambda t: t.patch(docs[3]["_id"], {"i": -3}))
        with pytest.raises(OccConflict) as info:
            await db.commit(t2)
        assert info.value.table == "items" and info.value.index == "by_a"
        # ... and so does moving a row out of it (its old key is inside).
        t2 = reader()
        await write(db, lambda t: t.patch(docs[5]["_id"], {"a": 7}))
        with pytest.raises(OccConflict):
            await db.commit(t2)
        # A row moved past the prefix (new and old key outside) does not.
        t2 = reader()
        await write(db, lambda t: t.patch(docs[20]["_id"], {"a": 8}))
        await db.commit(t2)

    run_db(tmp_path, body)


def test_full_range_read_conflicts_with_any_insert_into_it(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        await fill(db, 5)
        t2 = db.begin_write()
        assert len(query(t2, "items").with_index("by_a", lambda q: q.eq("a", 1)).collect()) == 5
        t2.insert("notes", {"seen": 5})
        await write(db, lambda t: t.insert("items", {"a": 1}))
        with pytest.raises(OccConflict):
            await db.commit(t2)

    run_db(tmp_path, body)


def test_run_in_transaction_retries_a_conflicting_body(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        counter = await write(db, lambda t: t.insert("notes", {"n": 0}))
        attempts: list[int] = []
        retries: list[tuple[int, OccConflict]] = []
        concurrent: list[Any] = []

        def increment(t: Transaction) -> int:
            attempts.append(1)
            n = t.get(counter)["n"]
            if len(attempts) == 1:
                # Another mutation commits an increment while this one runs.
                other = db.begin_write()
                other.patch(counter, {"n": other.get(counter)["n"] + 1})
                concurrent.append(db.committer.submit(other.prepare_commit()))
            t.patch(counter, {"n": n + 1})
            return n + 1

        result, ts = await db.run_in_transaction(
            increment, on_retry=lambda i, c: retries.append((i, c))
        )
        await concurrent[0]
        assert len(attempts) == 2
        assert [i for i, _ in retries] == [1]
        assert retries[0][1].table == "notes"
        assert result == 2
        t = db.begin_read()
        assert t.get(counter)["n"] == 2
        t.close()
        assert ts > await concurrent[0]

    run_db(tmp_path, body)


def test_run_in_transaction_gives_up_after_four_retries(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        counter = await write(db, lambda t: t.insert("notes", {"n": 0}))
        attempts: list[int] = []
        pending: list[Any] = []

        def always_conflicts(t: Transaction) -> None:
            attempts.append(1)
            n = t.get(counter)["n"]
            other = db.begin_write()
            other.patch(counter, {"n": other.get(counter)["n"] + 100})
            pending.append(db.committer.submit(other.prepare_commit()))
            t.patch(counter, {"n": n + 1})

        with pytest.raises(OccConflict, match="on every subsequent retry") as info:
            await db.run_in_transaction(always_conflicts)
        assert info.value.table == "notes"
        assert len(attempts) == 5
        await asyncio.gather(*pending)
        t = db.begin_read()
        assert t.get(counter)["n"] == 500  # only the interfering writes landed
        t.close()

    run_db(tmp_path, body)
