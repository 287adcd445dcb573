"""Drive the real Database API (a SQLite file in a test's tmp_path)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from livebase.database import Database, Query, Transaction

T = TypeVar("T")


def run_db(tmp_path: Path, body: Callable[[Database], Awaitable[T]]) -> T:
    """Open a database in ``tmp_path``, run ``body`` on an event loop, close it."""

    async def main() -> T:
        db = Database.open(str(tmp_path / "data.sqlite3"))
        try:
            return await asyncio.wait_for(body(db), timeout=30)
        finally:
            db.close()

    return asyncio.run(main())


async def write(db: Database, fn: Callable[[Transaction], T]) -> T:
    """Run ``fn`` in a committed write transaction; its result."""
    result, _ts = await db.run_in_transaction(fn)
    return result


def read(db: Database, fn: Callable[[Transaction], T]) -> T:
    """Run ``fn`` in a read transaction at the latest snapshot."""
    txn = db.begin_read()
    try:
        return fn(txn)
    finally:
        txn.close()


def query(txn: Transaction, table: str) -> Query:
    return Query(txn, txn.table_for_read(table))
