"""A commit that can't be written fails clearly, nothing half-written stays
visible, and the database works again once there is room (a real SQLITE_FULL,
from a page limit on the real database file)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from livebase.database import CommitFailed, Database, Query


def test_a_failed_write_is_reported_and_leaves_nothing_behind(tmp_path: Path) -> None:
    async def body() -> None:
        db = Database.open(str(tmp_path / "db.sqlite3"))
        try:
            await db.run_in_transaction(lambda t: t.insert("notes", {"n": 0, "text": "first"}))
            writer = db.persistence._writer  # type: ignore[attr-defined]
            pages = writer.execute("PRAGMA page_count").fetchone()[0]
            writer.execute(f"PRAGMA max_page_count = {pages}")  # the file may not grow

            big = "x" * 200_000
            with pytest.raises(CommitFailed, match="could not be made durable"):
                await db.run_in_transaction(lambda t: t.insert("notes", {"n": 1, "text": big}))

            def count(t: object) -> int:
                return len(Query(t, t.table_for_read("notes")).collect())  # type: ignore[attr-defined]

            # Neither readers nor later writers see the failed commit.
            txn = db.begin_read()
            assert count(txn) == 1
            txn.close()
            assert (await db.run_in_transaction(count))[0] == 1

            # Room again: writes work, and the data survives a reopen.
            writer.execute("PRAGMA max_page_count = 1073741823")
            await db.run_in_transaction(lambda t: t.insert("notes", {"n": 2, "text": big}))
            await db.committer.wait_idle()
        finally:
            db.close()
        db = Database.open(str(tmp_path / "db.sqlite3"))
        try:
            txn = db.begin_read()
            texts = sorted(d["n"] for d in Query(txn, txn.table_for_read("notes")).collect())
            txn.close()
            assert texts == [0, 2]
        finally:
            db.close()

    asyncio.run(body())
