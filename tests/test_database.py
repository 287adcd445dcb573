"""The transactional database through its real API on a SQLite file:
writes and their errors, read-your-own-writes, schema validation and
schema pushes, durability across reopening, size and per-transaction limits.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, TypeVar

import pytest

from livebase import UNDEFINED, Int64, define_schema, define_table, v
from livebase.database import (
    Database,
    DatabaseError,
    LimitExceeded,
    SchemaPushError,
    Transaction,
)
from livebase.database.transaction import Limits
from livebase.errors import LivebaseError
from livebase.schema import ValidationError
from livebase.values import IdGenerator, decode_id
from tests.support.db import query, read, run_db, write

T = TypeVar("T")


# -- helpers -----------------------------------------------------------------------




def user_fields(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    if doc is None:
        return None
    return {k: x for k, x in doc.items() if not k.startswith("_")}


# -- insert and get -------------------------------------------------------------------


def test_insert_and_get(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        before = time.time() * 1000

        def insert(txn: Transaction) -> list[str]:
            return [
                txn.insert("notes", {"text": "a", "n": Int64(1)}),
                txn.insert("notes", {"text": "b"}),
            ]

        ids = await write(db, insert)
        after = time.time() * 1000
        decoded = decode_id(ids[0])
        assert decoded is not None
        assert decoded.table_number == db.table_number("notes")
        docs = read(db, lambda t: [t.get(i) for i in ids])
        assert docs[0]["_id"] == ids[0]
        assert user_fields(docs[0]) == {"text": "a", "n": 1}
        assert type(docs[0]["n"]) is Int64
        t0, t1 = docs[0]["_creationTime"], docs[1]["_creationTime"]
        assert type(t0) is float
        assert before - 1 <= t0 < t1 <= after + 1  # increasing within a transaction
        assert read(db, lambda t: t.get(ids[0], table_name="notes"))["text"] == "a"

    run_db(tmp_path, body)


def test_get_errors_and_missing_documents(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        note = await write(db, lambda t: t.insert("notes", {"x": 1}))
        await write(db, lambda t: t.insert("other", {"x": 1}))
        txn = db.begin_read()
        try:
            with pytest.raises(DatabaseError, match="not a valid document id"):
                txn.get("nonsense")
            with pytest.raises(DatabaseError, match="needs a document id string, got int"):
                txn.get(5)
            with pytest.raises(DatabaseError, match="does not belong to table 'other'"):
                txn.get(note, table_name="other")
            with pytest.raises(DatabaseError, match="does not belong to table 'nosuch'"):
                txn.get(note, table_name="nosuch")
            # Well-formed ids of documents (or tables) that don't exist read as None.
            number = db.table_number("notes")
            assert number is not None
            assert txn.get(IdGenerator().new_id(number)) is None
            assert txn.get(IdGenerator().new_id(55555)) is None
            # Ids of system tables are refused by the user API.
            storage_id = IdGenerator().new_id(db.table_number("_storage"))  # type: ignore[arg-type]
            with pytest.raises(DatabaseError, match="system table '_storage'"):
                txn.get(storage_id)
        finally:
            txn.close()

    run_db(tmp_path, body)


@pytest.mark.parametrize(
    ("table", "value", "message"),
    [
        ("notes", ["not", "a", "dict"], "needs a dict of fields for table 'notes', got list"),
        ("notes", "text", "needs a dict of fields"),
        ("notes", {"_id": "x"}, "_id"),
        ("notes", {"_creationTime": 1.0}, "_creationTime"),
        ("notes", {"_secret": 1}, "field '_secret' in table 'notes' starts with '_'"),
        ("notes", {"x" * 65: 1}, "longer than 64 characters"),
        ("notes", {"n": 2**60}, r"db\.insert\('notes', \.\.\.\)\.n.*Int64"),
        ("notes", {"a": {"$b": 1}}, r"\.a.*must not start with '\$'"),
        ("notes", {"s": {1, 2}}, "set is not a supported value type"),
        ("_storage", {"x": 1}, "system table"),
        ("bad-name", {"x": 1}, "invalid table name"),
        ("", {"x": 1}, "invalid table name"),
    ],
)
def test_insert_errors(tmp_path: Path, table: str, value: Any, message: str) -> None:
    async def body(db: Database) -> None:
        txn = db.begin_write()
        with pytest.raises(LivebaseError, match=message):
            txn.insert(table, value)
        txn.close()

    run_db(tmp_path, body)


def test_nested_underscore_fields_are_allowed(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        i = await write(db, lambda t: t.insert("notes", {"meta": {"_private": 1}, "x" * 64: 2}))
        assert read(db, lambda t: t.get(i))["meta"] == {"_private": 1}

    run_db(tmp_path, body)


def test_queries_cannot_write(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        i = await write(db, lambda t: t.insert("notes", {"x": 1}))
        txn = db.begin_read()
        with pytest.raises(DatabaseError, match="not allowed in a query"):
            txn.insert("notes", {"x": 1})
        with pytest.raises(DatabaseError, match="not allowed in a query"):
            txn.patch(i, {"x": 2})
        with pytest.raises(DatabaseError, match="not allowed in a query"):
            txn.delete(i)
        txn.close()
        with pytest.raises(DatabaseError, match="already finished"):
            txn.get(i)

    run_db(tmp_path, body)


# -- patch, replace, delete ------------------------------------------------------------


def test_patch_semantics(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        i = await write(
            db, lambda t: t.insert("notes", {"a": 1, "b": {"x": 1, "y": 2}, "c": "keep"})
        )
        original = read(db, lambda t: t.get(i))
        await write(db, lambda t: t.patch(i, {"a": 2, "b": {"x": 9}, "d": [1], "c": UNDEFINED}))
        doc = read(db, lambda t: t.get(i))
        # Shallow merge: "b" is replaced whole; UNDEFINED removes "c".
        assert user_fields(doc) == {"a": 2, "b": {"x": 9}, "d": [1]}
        assert doc["_id"] == i
        assert doc["_creationTime"] == original["_creationTime"]
        # Removing a field that does not exist is fine; integral floats normalize.
        await write(db, lambda t: t.patch(i, {"zzz": UNDEFINED, "a": 3.0}))
        doc = read(db, lambda t: t.get(i))
        assert user_fields(doc) == {"a": 3, "b": {"x": 9}, "d": [1]}
        assert type(doc["a"]) is int
        # Passing the system fields unchanged is allowed.
        await write(
            db, lambda t: t.patch(i, {"_id": i, "_creationTime": original["_creationTime"], "a": 4})
        )
        assert read(db, lambda t: t.get(i))["a"] == 4

    run_db(tmp_path, body)


def test_patch_and_replace_errors(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        i = await write(db, lambda t: t.insert("notes", {"a": 1}))
        other = await write(db, lambda t: t.insert("notes", {"a": 2}))
        await write(db, lambda t: t.delete(other))
        txn = db.begin_write()
        try:
            for op in (txn.patch, txn.replace):
                name = op.__name__
                with pytest.raises(
                    DatabaseError, match=f"db.{name}\\(\\): no document with id"
                ) as info:
                    op(other, {"a": 1})
                assert info.value.code == "NonexistentDocument"
                with pytest.raises(DatabaseError, match="not a valid document id"):
                    op("garbage", {"a": 1})
                with pytest.raises(DatabaseError, match="needs a dict of fields"):
                    op(i, [1])
                with pytest.raises(DatabaseError, match=r"'_x'.*reserved for system fields"):
                    op(i, {"_x": 1})
                with pytest.raises(DatabaseError, match="system field _id can't be changed"):
                    op(i, {"_id": other})
                with pytest.raises(
                    DatabaseError, match="system field _creationTime can't be changed"
                ):
                    op(i, {"_creationTime": 5.0})
                with pytest.raises(DatabaseError, match="does not belong to table 'users'"):
                    op(i, {"a": 1}, table_name="users")
            with pytest.raises(LivebaseError, match=r"db\.patch\(\.\.\.\)\.a.*Int64"):
                txn.patch(i, {"a": 2**60})
        finally:
            txn.close()
        # Nothing of the failed calls was written.
        assert user_fields(read(db, lambda t: t.get(i))) == {"a": 1}

    run_db(tmp_path, body)


def test_replace_semantics(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        i = await write(db, lambda t: t.insert("notes", {"a": 1, "b": 2}))
        original = read(db, lambda t: t.get(i))
        await write(db, lambda t: t.replace(i, {"c": 3, "gone": UNDEFINED}))
        doc = read(db, lambda t: t.get(i))
        assert user_fields(doc) == {"c": 3}
        assert (doc["_id"], doc["_creationTime"]) == (i, original["_creationTime"])
        # The system fields may be passed back unchanged (a modified copy of a read doc).
        await write(db, lambda t: t.replace(i, {**doc, "c": 4}))
        assert user_fields(read(db, lambda t: t.get(i))) == {"c": 4}
        await write(db, lambda t: t.replace(i, {}))
        assert user_fields(read(db, lambda t: t.get(i))) == {}

    run_db(tmp_path, body)


def test_delete_semantics(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        i = await write(db, lambda t: t.insert("notes", {"a": 1}))
        await write(db, lambda t: t.delete(i))
        assert read(db, lambda t: t.get(i)) is None
        assert read(db, lambda t: query(t, "notes").collect()) == []
        txn = db.begin_write()
        with pytest.raises(DatabaseError, match=r"db\.delete\(\): no document with id") as info:
            txn.delete(i)
        assert info.value.code == "NonexistentDocument"
        with pytest.raises(DatabaseError, match="not a valid document id"):
            txn.delete("x")
        txn.close()

        # Insert and delete in one transaction: nothing is left.
        def insert_delete(t: Transaction) -> str:
            j = t.insert("notes", {"a": 2})
            t.delete(j)
            assert t.get(j) is None
            return j

        j = await write(db, insert_delete)
        assert read(db, lambda t: t.get(j)) is None
        assert read(db, lambda t: query(t, "notes").collect()) == []

    run_db(tmp_path, body)


# -- a transaction sees its own writes ----------------------------------------------------


def test_transaction_sees_its_own_writes(tmp_path: Path) -> None:
    schema = define_schema({"items": define_table().index("by_n", ["n"])})

    async def body(db: Database) -> None:
        await db.apply_schema(schema)
        ids = await write(db, lambda t: [t.insert("items", {"n": n}) for n in range(10)])

        def in_range(t: Transaction) -> list[int]:
            return [
                d["n"]
                for d in query(t, "items")
                .with_index("by_n", lambda q: q.gte("n", 3).lt("n", 7))
                .collect()
            ]

        def body_txn(t: Transaction) -> None:
            new = t.insert("items", {"n": 5.5})
            assert t.get(new)["n"] == 5.5
            assert in_range(t) == [3, 4, 5, 5.5, 6]
            t.patch(ids[4], {"n": 100})  # moves out of the range
            t.patch(ids[8], {"n": 3.5})  # moves into the range
            t.delete(ids[5])
            assert in_range(t) == [3, 3.5, 5.5, 6]
            assert t.get(ids[5]) is None
            assert t.get(ids[4])["n"] == 100
            # A later patch of a document inserted in this transaction.
            t.patch(new, {"n": 6.5})
            assert in_range(t) == [3, 3.5, 6, 6.5]
            # Newest first: the document inserted by this transaction.
            assert [d["n"] for d in query(t, "items").order("desc").take(2)] == [6.5, 9]
            # Not visible to others before the commit.
            assert read(db, lambda r: r.get(new)) is None

        await write(db, body_txn)
        assert read(db, in_range) == [3, 3.5, 6, 6.5]
        assert read(db, lambda t: len(query(t, "items").collect())) == 10

    run_db(tmp_path, body)


def test_new_table_is_queryable_in_the_creating_transaction(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        def txn_body(t: Transaction) -> list[int]:
            t.insert("brand_new", {"n": 1})
            t.insert("brand_new", {"n": 2})
            return [d["n"] for d in query(t, "brand_new").order("desc").collect()]

        assert await write(db, txn_body) == [2, 1]
        assert read(db, lambda t: [d["n"] for d in query(t, "brand_new").collect()]) == [1, 2]

    run_db(tmp_path, body)


def test_read_transaction_keeps_its_snapshot(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        i = await write(db, lambda t: t.insert("notes", {"v": 1}))
        reader = db.begin_read()
        try:
            assert reader.get(i)["v"] == 1
            await write(db, lambda t: t.patch(i, {"v": 2}))
            await write(db, lambda t: t.insert("notes", {"v": 3}))
            assert reader.get(i)["v"] == 1
            assert [d["v"] for d in query(reader, "notes").collect()] == [1]
        finally:
            reader.close()
        assert read(db, lambda t: t.get(i))["v"] == 2

    run_db(tmp_path, body)


def test_write_transaction_sees_commits_pending_at_its_start(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        await write(db, lambda t: t.insert("notes", {"n": 0}))
        t0 = db.begin_write()
        x = t0.insert("notes", {"n": 1})
        durable = db.committer.submit(t0.prepare_commit())  # committed, not yet durable
        t1 = db.begin_write()
        try:
            assert t1.get(x)["n"] == 1
            assert [d["n"] for d in query(t1, "notes").collect()] == [0, 1]
        finally:
            t1.close()
        await durable

    run_db(tmp_path, body)


def test_pending_commit_stays_visible_after_it_becomes_durable(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        await write(db, lambda t: t.insert("notes", {"n": 0}))
        t0 = db.begin_write()
        x = t0.insert("notes", {"n": 1})
        durable = db.committer.submit(t0.prepare_commit())
        t1 = db.begin_write()
        try:
            assert t1.get(x)["n"] == 1
            await durable  # published: leaves the overlay
            assert t1.get(x) is not None
            assert [d["n"] for d in query(t1, "notes").collect()] == [0, 1]
        finally:
            t1.close()

    run_db(tmp_path, body)


def test_documents_returned_are_copies(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        def txn_body(t: Transaction) -> str:
            i = t.insert("notes", {"l": [1]})
            t.get(i)["l"].append(2)  # mutating a returned doc must not write
            return i

        i = await write(db, txn_body)
        assert read(db, lambda t: t.get(i))["l"] == [1]

    run_db(tmp_path, body)


# -- schema validation ----------------------------------------------------------------------


SCHEMA = define_schema(
    {
        "users": define_table({"name": v.string(), "age": v.optional(v.int64())}).index(
            "by_name", ["name"]
        ),
        "posts": define_table({"author": v.id("users"), "title": v.string()}),
    }
)


def test_writes_are_validated_against_the_schema(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        report = await db.apply_schema(SCHEMA)
        assert sorted(report.tables_created) == ["posts", "users"]
        assert report.indexes_added == ["users.by_name"]
        u = await write(db, lambda t: t.insert("users", {"name": "ann", "age": 3}))
        assert type(read(db, lambda t: t.get(u))["age"]) is Int64  # v.int64() converted it
        p = await write(db, lambda t: t.insert("posts", {"author": u, "title": "t"}))
        txn = db.begin_write()
        try:
            with pytest.raises(
                ValidationError,
                match=r"table 'users' at name: expected v\.string\(\), got number 1",
            ):
                txn.insert("users", {"name": 1})
            with pytest.raises(
                ValidationError, match=r"table 'users'.*missing the required field 'name'"
            ):
                txn.insert("users", {})
            with pytest.raises(ValidationError, match=r"table 'users'.*'extra'"):
                txn.insert("users", {"name": "x", "extra": True})
            with pytest.raises(
                ValidationError, match=r"table 'posts' at author: expected v\.id\(.users.\)"
            ):
                txn.insert("posts", {"author": p, "title": "t"})
            with pytest.raises(ValidationError, match="table 'users' at age"):
                txn.patch(u, {"age": "old"})
            with pytest.raises(
                ValidationError, match=r"table 'users'.*missing the required field 'name'"
            ):
                txn.patch(u, {"name": UNDEFINED})
            with pytest.raises(ValidationError, match="table 'users' at name"):
                txn.replace(u, {"name": None})
            # Unlisted tables are not validated.
            txn.insert("anything", {"whatever": [1, "x"]})
        finally:
            txn.close()
        assert user_fields(read(db, lambda t: t.get(u))) == {"name": "ann", "age": 3}

    run_db(tmp_path, body)


def test_schema_push_refuses_bad_existing_documents(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        good = await write(db, lambda t: t.insert("users", {"name": "ann"}))
        bad = await write(db, lambda t: t.insert("users", {"name": 42}))
        with pytest.raises(SchemaPushError) as info:
            await db.apply_schema(SCHEMA)
        message = str(info.value)
        assert bad in message
        assert "'users'" in message
        assert "field name" in message
        assert good not in message
        # Nothing changed: no index, no schema, writes still unvalidated.
        assert "by_name" not in db.catalog.table("users").indexes
        assert db.catalog.table("posts") is None or not db.catalog.table("posts").persisted
        await write(db, lambda t: t.insert("users", {"name": 7}))
        # Fix the document; the push now succeeds and builds the index over existing rows.
        await write(
            db,
            lambda t: [
                t.patch(d["_id"], {"name": str(d["name"])})
                for d in query(t, "users").collect()
                if type(d["name"]) is not str
            ],
        )
        report = await db.apply_schema(SCHEMA)
        assert report.documents_validated == 3
        assert report.indexes_added == ["users.by_name"]
        names = read(
            db, lambda t: [d["name"] for d in query(t, "users").with_index("by_name").collect()]
        )
        assert names == ["42", "7", "ann"]
        with pytest.raises(ValidationError):
            await write(db, lambda t: t.insert("users", {"name": 7}))

    run_db(tmp_path, body)


def test_schema_push_builds_and_drops_indexes(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        await write(db, lambda t: [t.insert("items", {"n": n, "m": -n}) for n in range(20)])
        s1 = define_schema({"items": define_table().index("by_n", ["n"]).index("by_m", ["m"])})
        report = await db.apply_schema(s1)
        assert sorted(report.indexes_added) == ["items.by_m", "items.by_n"]
        ms = read(
            db,
            lambda t: [
                d["m"]
                for d in query(t, "items").with_index("by_m", lambda q: q.lt("m", -15)).collect()
            ],
        )
        assert ms == [-19, -18, -17, -16]
        # Re-applying the same schema changes nothing.
        again = await db.apply_schema(s1)
        assert not again.changed
        # Changing an index's fields rebuilds it; removing one drops it.
        s2 = define_schema({"items": define_table().index("by_n", ["m"])})
        report = await db.apply_schema(s2)
        assert report.indexes_added == ["items.by_n"]
        assert sorted(report.indexes_removed) == ["items.by_m", "items.by_n"]
        first = read(db, lambda t: query(t, "items").with_index("by_n").first())
        assert first["m"] == -19
        with pytest.raises(DatabaseError, match='Index "by_m" not found on table "items"'):
            read(db, lambda t: query(t, "items").with_index("by_m"))
        # New writes maintain the rebuilt index.
        await write(db, lambda t: t.insert("items", {"n": 99, "m": -99}))
        assert read(db, lambda t: query(t, "items").with_index("by_n").first())["n"] == 99

    run_db(tmp_path, body)


# -- durability -----------------------------------------------------------------------------


def test_data_survives_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "data.sqlite3")
    schema = define_schema({"items": define_table().index("by_n", ["n"])})

    async def first() -> tuple[list[str], int]:
        db = Database.open(path)
        try:
            await db.apply_schema(schema)
            ids = await write(
                db, lambda t: [t.insert("items", {"n": n, "b": b"\x00" * n}) for n in range(5)]
            )
            await write(db, lambda t: t.delete(ids[0]))
            # Commit with a timestamp in the future, as after a clock step back.
            db.committer.last_ts = time.time_ns() + 3600 * 10**9
            _, ts = await db.run_in_transaction(lambda t: t.patch(ids[1], {"n": 10}))
            return ids, ts
        finally:
            db.close()

    async def second(ids: list[str], last_ts: int) -> None:
        db = Database.open(path)
        try:
            docs = read(db, lambda t: query(t, "items").with_index("by_n").collect())
            assert [(d["_id"], d["n"], d["b"]) for d in docs] == [
                (ids[2], 2, b"\x00\x00"),
                (ids[3], 3, b"\x00" * 3),
                (ids[4], 4, b"\x00" * 4),
                (ids[1], 10, b"\x00"),
            ]
            assert read(db, lambda t: t.get(ids[0])) is None
            _, ts = await db.run_in_transaction(lambda t: t.insert("items", {"n": 0}))
            assert ts > last_ts  # timestamps never go backwards across a restart
            new_table = await write(db, lambda t: t.insert("fresh", {"x": 1}))
            assert decode_id(new_table).table_number != decode_id(ids[0]).table_number  # type: ignore[union-attr]
        finally:
            db.close()

    ids, ts = asyncio.run(first())
    asyncio.run(second(ids, ts))


def test_document_size_limit(tmp_path: Path) -> None:
    mib = 1 << 20

    async def body(db: Database) -> None:
        big = "x" * (mib - 200)
        i = await write(db, lambda t: t.insert("blobs", {"s": big}))
        assert read(db, lambda t: t.get(i))["s"] == big
        txn = db.begin_write()
        try:
            with pytest.raises(DatabaseError, match="more than the limit of 1048576 bytes") as info:
                txn.insert("blobs", {"s": "x" * mib})
            assert info.value.code == "DocumentTooLarge"
            with pytest.raises(DatabaseError, match="table 'blobs'"):
                txn.insert("blobs", {"b": b"\x00" * mib})
            with pytest.raises(DatabaseError, match="more than the limit"):
                txn.patch(i, {"more": "y" * 300})
            with pytest.raises(DatabaseError, match="more than the limit"):
                txn.insert("blobs", {"l": ["y" * 1000] * 1100})
        finally:
            txn.close()

    run_db(tmp_path, body)


# -- per-transaction limits (SEMANTICS.md §10) -----------------------------------------------


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> type[Limits]:
    """Lower the limits for one test; monkeypatch restores them afterwards."""
    monkeypatch.setattr(Limits, "max_docs_scanned", 20)
    monkeypatch.setattr(Limits, "max_bytes_read", 10_000)
    monkeypatch.setattr(Limits, "max_index_ranges", 10)
    monkeypatch.setattr(Limits, "max_docs_written", 5)
    monkeypatch.setattr(Limits, "max_bytes_written", 2_000)
    return Limits


def test_limit_docs_scanned(tmp_path: Path, small_limits: type[Limits]) -> None:
    async def body(db: Database) -> None:
        for _ in range(5):
            await write(db, lambda t: [t.insert("items", {"n": n}) for n in range(5)])
        assert len(read(db, lambda t: query(t, "items").take(20))) == 20
        with pytest.raises(LimitExceeded, match=r"Too many documents read.*limit: 20") as info:
            read(db, lambda t: query(t, "items").collect())
        assert info.value.code == "TooManyDocumentsRead"
        # Filtered-out rows count too.
        with pytest.raises(LimitExceeded, match="Too many documents read"):
            read(db, lambda t: query(t, "items").filter(lambda q: q.eq(q.field("n"), 99)).collect())

    run_db(tmp_path, body)


def test_limit_bytes_read(tmp_path: Path, small_limits: type[Limits]) -> None:
    async def body(db: Database) -> None:
        await write(db, lambda t: [t.insert("items", {"s": "x" * 900}) for _ in range(2)])
        await write(db, lambda t: [t.insert("items", {"s": "x" * 900}) for _ in range(2)])
        await write(db, lambda t: [t.insert("items", {"s": "x" * 900}) for _ in range(2)])
        await write(db, lambda t: [t.insert("items", {"s": "x" * 900}) for _ in range(2)])
        await write(db, lambda t: [t.insert("items", {"s": "x" * 900}) for _ in range(2)])
        await write(db, lambda t: [t.insert("items", {"s": "x" * 900}) for _ in range(2)])
        with pytest.raises(LimitExceeded, match=r"Too many bytes read.*limit: 10000 bytes") as info:
            read(db, lambda t: query(t, "items").collect())
        assert info.value.code == "TooManyBytesRead"

    run_db(tmp_path, body)


def test_limit_index_ranges(tmp_path: Path, small_limits: type[Limits]) -> None:
    async def body(db: Database) -> None:
        i = await write(db, lambda t: t.insert("items", {"n": 1}))

        def many_reads(t: Transaction) -> None:
            for _ in range(5):
                t.get(i)
                query(t, "items").first()

        read(db, many_reads)  # exactly 10 reads are fine
        with pytest.raises(LimitExceeded, match=r"Too many reads.*limit: 10") as info:
            read(db, lambda t: [t.get(i) for _ in range(11)])
        assert info.value.code == "TooManyReads"

    run_db(tmp_path, body)


def test_limit_docs_written(tmp_path: Path, small_limits: type[Limits]) -> None:
    async def body(db: Database) -> None:
        ids = await write(db, lambda t: [t.insert("items", {"n": n}) for n in range(5)])
        with pytest.raises(LimitExceeded, match=r"Too many documents written.*limit: 5") as info:
            await write(db, lambda t: [t.insert("items", {"n": n}) for n in range(6)])
        assert info.value.code == "TooManyWrites"
        # Patches and deletes count as writes.
        with pytest.raises(LimitExceeded, match="Too many documents written"):
            await write(db, lambda t: ([t.patch(i, {"n": 0}) for i in ids], t.delete(ids[0])))
        assert read(db, lambda t: len(query(t, "items").collect())) == 5

    run_db(tmp_path, body)


def test_limit_bytes_written(tmp_path: Path, small_limits: type[Limits]) -> None:
    async def body(db: Database) -> None:
        await write(db, lambda t: t.insert("items", {"s": "x" * 1500}))
        with pytest.raises(
            LimitExceeded, match=r"Too many bytes written.*limit: 2000 bytes"
        ) as info:
            await write(db, lambda t: [t.insert("items", {"s": "x" * 800}) for _ in range(3)])
        assert info.value.code == "TooManyBytesWritten"

    run_db(tmp_path, body)


def test_limits_are_restored_after_the_fixture() -> None:
    assert Limits.max_docs_scanned == 32_000
    assert Limits.max_index_ranges == 4_096
    assert Limits.max_docs_written == 16_000
    assert Limits.max_bytes_read == Limits.max_bytes_written == 16 << 20
