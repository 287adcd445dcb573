"""SQLite storage (the embedded default): one file in WAL mode.

Reads run on the caller's thread from a small pool of connections, each
read inside its own transaction (SQLite's WAL snapshot). Writes come from
the committer's single writer thread, one transaction and one fsync per
batch of commits (``synchronous=FULL``: a returned ``write_batch`` is on disk).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from livebase.persistence.base import (
    CatalogState,
    CommitRecord,
    Deploy,
    IndexRow,
    Persistence,
    SnapshotReader,
    TableRow,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    table_number INTEGER NOT NULL,
    id_key BLOB NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (table_number, id_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS index_entries (
    index_id INTEGER NOT NULL,
    key BLOB NOT NULL,
    id_key BLOB NOT NULL,
    PRIMARY KEY (index_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tables (
    table_number INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS indexes (
    index_id INTEGER PRIMARY KEY,
    table_number INTEGER NOT NULL,
    name TEXT NOT NULL,
    fields TEXT NOT NULL,
    state TEXT NOT NULL,
    UNIQUE (table_number, name)
);
CREATE TABLE IF NOT EXISTS globals (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"""

_LATEST_TS = "SELECT value FROM globals WHERE key = 'latest_ts'"


def _scan_sql(by_id: bool, bounded: bool, descending: bool) -> str:
    order = "DESC" if descending else "ASC"
    if by_id:
        end = " AND id_key < ?" if bounded else ""
        return (
            "SELECT id_key, id_key, value FROM documents WHERE table_number = ? AND id_key >= ?"
            f"{end} ORDER BY id_key {order} LIMIT ?"
        )
    end = " AND e.key < ?" if bounded else ""
    return (
        "SELECT e.key, e.id_key, d.value FROM index_entries e JOIN documents d "
        "ON d.table_number = ? AND d.id_key = e.id_key "
        f"WHERE e.index_id = ? AND e.key >= ?{end} ORDER BY e.key {order} LIMIT ?"
    )


_SCANS = {(b, bo, d): _scan_sql(b, bo, d) for b in (True, False) for bo in (True, False) for d in (True, False)}


class _SqliteSnapshot(SnapshotReader):
    __slots__ = ("_conn", "_owner", "ts")

    def __init__(self, owner: SqlitePersistence, conn: sqlite3.Connection) -> None:
        self._owner = owner
        self._conn = conn
        conn.execute("BEGIN")
        row = conn.execute(_LATEST_TS).fetchone()
        self.ts = int(row[0]) if row else 0

    def get(self, table_number: int, id_key: bytes) -> bytes | None:
        row = self._conn.execute(
            "SELECT value FROM documents WHERE table_number = ? AND id_key = ?", (table_number, id_key)
        ).fetchone()
        return row[0] if row else None

    def scan(
        self,
        table_number: int,
        index_id: int | None,
        start: bytes,
        end: bytes | None,
        descending: bool,
        limit: int,
    ) -> list[tuple[bytes, bytes, bytes]]:
        sql = _SCANS[(index_id is None, end is not None, descending)]
        if index_id is None:
            params: tuple = (table_number, start, end, limit) if end is not None else (table_number, start, limit)
        else:
            params = (
                (table_number, index_id, start, end, limit)
                if end is not None
                else (table_number, index_id, start, limit)
            )
        return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        conn = self._conn
        if conn is not None:
            self._conn = None  # type: ignore[assignment]
            conn.execute("COMMIT")
            self._owner._release(conn)


class DatabaseInUse(RuntimeError):
    """Another process has this database open."""


def _lock(path: str) -> TextIO:
    """Hold an exclusive lock on ``path.lock`` for as long as the database is
    open: two servers on one SQLite file would hand out the same table
    numbers and timestamps (each keeps them in memory)."""
    lock_path = path + ".lock"
    f = open(lock_path, "a+")  # noqa: SIM115 - held open until close()
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip()
        f.close()
        who = f" (pid {holder})" if holder else ""
        raise DatabaseInUse(
            f"the database {path} is already in use by another Livebase process{who}; "
            "stop it, or talk to it (livebase run/env/logs use a running server automatically)"
        ) from None
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    return f


class SqlitePersistence(Persistence):
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock_file = None
        if self.path != ":memory:":
            folder = Path(self.path).parent
            if not folder.exists():
                # The folder holds the data and the admin key: owner only.
                folder.mkdir(parents=True, mode=0o700)
            self._lock_file = _lock(self.path)
        self._pool: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self._writer = self._connect()
        if self.path != ":memory:":
            os.chmod(self.path, 0o600)
        self._writer.executescript(_SCHEMA)
        self._writer.execute(
            "INSERT OR IGNORE INTO globals (key, value) VALUES ('latest_ts', 0)"
        )

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: every commit batch is fsynced before write_batch returns.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA mmap_size=268435456")
        return conn

    # -- reads -------------------------------------------------------------

    def snapshot(self) -> SnapshotReader:
        with self._pool_lock:
            conn = self._pool.pop() if self._pool else None
        if conn is None:
            conn = self._connect()
        return _SqliteSnapshot(self, conn)

    def _release(self, conn: sqlite3.Connection) -> None:
        with self._pool_lock:
            if len(self._pool) < 8:
                self._pool.append(conn)
                return
        conn.close()

    def load_catalog(self) -> CatalogState:
        c = self._writer
        latest = c.execute(_LATEST_TS).fetchone()
        tables = [TableRow(n, name) for n, name in c.execute("SELECT table_number, name FROM tables")]
        indexes = [
            IndexRow(i, t, name, json.loads(fields), state)
            for i, t, name, fields, state in c.execute(
                "SELECT index_id, table_number, name, fields, state FROM indexes"
            )
        ]
        globals_ = {
            k: bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode()
            for k, v in c.execute("SELECT key, value FROM globals WHERE key != 'latest_ts'")
        }
        return CatalogState(int(latest[0]) if latest else 0, tables, indexes, globals_)

    def iterate_table(self, table_number: int, batch: int = 1000) -> Iterator[list[tuple[bytes, bytes]]]:
        conn = self._connect()
        try:
            conn.execute("BEGIN")
            last = b""
            while True:
                rows = conn.execute(
                    "SELECT id_key, value FROM documents WHERE table_number = ? AND id_key > ? "
                    "ORDER BY id_key LIMIT ?",
                    (table_number, last, batch),
                ).fetchall()
                if not rows:
                    break
                yield rows
                last = rows[-1][0]
            conn.execute("COMMIT")
        finally:
            conn.close()

    def count_table(self, table_number: int) -> int:
        with self.snapshot() as snap:
            conn = snap._conn  # type: ignore[attr-defined]
            return conn.execute(
                "SELECT COUNT(*) FROM documents WHERE table_number = ?", (table_number,)
            ).fetchone()[0]

    # -- writes ------------------------------------------------------------

    def write_batch(self, commits: list[CommitRecord]) -> None:
        # Net effect of the whole batch per row: later commits win. Applying
        # commit by commit would also be correct, but this is one executemany
        # per statement however many commits the batch holds.
        docs: dict[tuple[int, bytes], bytes | None] = {}
        entries: dict[tuple[int, bytes], bytes | None] = {}
        tables: list[tuple[int, str]] = []
        indexes: list[tuple] = []
        globals_: dict[str, bytes] = {}
        for commit in commits:
            for t in commit.tables:
                tables.append((t.table_number, t.name))
            for ix in commit.indexes:
                indexes.append((ix.index_id, ix.table_number, ix.name, json.dumps(ix.fields), ix.state))
            for w in commit.writes:
                docs[(w.table_number, w.id_key)] = w.value
                for index_id, key in w.index_removes:
                    entries[(index_id, key)] = None
                for index_id, key in w.index_adds:
                    entries[(index_id, key)] = w.id_key
            globals_.update(commit.globals)
        c = self._writer
        c.execute("BEGIN IMMEDIATE")
        try:
            if tables:
                c.executemany("INSERT OR IGNORE INTO tables (table_number, name) VALUES (?, ?)", tables)
            if indexes:
                c.executemany(
                    "INSERT OR IGNORE INTO indexes (index_id, table_number, name, fields, state) "
                    "VALUES (?, ?, ?, ?, ?)",
                    indexes,
                )
            deletes = [(t, k) for (t, k), v in docs.items() if v is None]
            upserts = [(t, k, v) for (t, k), v in docs.items() if v is not None]
            if deletes:
                c.executemany("DELETE FROM documents WHERE table_number = ? AND id_key = ?", deletes)
            if upserts:
                c.executemany(
                    "INSERT OR REPLACE INTO documents (table_number, id_key, value) VALUES (?, ?, ?)",
                    upserts,
                )
            entry_deletes = [(i, k) for (i, k), v in entries.items() if v is None]
            entry_upserts = [(i, k, v) for (i, k), v in entries.items() if v is not None]
            if entry_deletes:
                c.executemany("DELETE FROM index_entries WHERE index_id = ? AND key = ?", entry_deletes)
            if entry_upserts:
                c.executemany(
                    "INSERT OR REPLACE INTO index_entries (index_id, key, id_key) VALUES (?, ?, ?)",
                    entry_upserts,
                )
            if globals_:
                c.executemany(
                    "INSERT OR REPLACE INTO globals (key, value) VALUES (?, ?)", list(globals_.items())
                )
            c.execute("UPDATE globals SET value = ? WHERE key = 'latest_ts'", (commits[-1].ts,))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def apply_deploy(self, deploy: Deploy) -> None:
        c = self._writer
        c.execute("BEGIN IMMEDIATE")
        try:
            for t in deploy.tables:
                c.execute("INSERT OR IGNORE INTO tables (table_number, name) VALUES (?, ?)", (t.table_number, t.name))
            for index_id in deploy.dropped_indexes:
                c.execute("DELETE FROM index_entries WHERE index_id = ?", (index_id,))
                c.execute("DELETE FROM indexes WHERE index_id = ?", (index_id,))
            for build in deploy.builds:
                ix = build.index
                c.execute(
                    "INSERT OR REPLACE INTO indexes (index_id, table_number, name, fields, state) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (ix.index_id, ix.table_number, ix.name, json.dumps(ix.fields), ix.state),
                )
                c.execute("DELETE FROM index_entries WHERE index_id = ?", (ix.index_id,))
                c.executemany(
                    "INSERT INTO index_entries (index_id, key, id_key) VALUES (?, ?, ?)",
                    ((ix.index_id, key, id_key) for key, id_key in build.entries),
                )
            if deploy.globals:
                c.executemany(
                    "INSERT OR REPLACE INTO globals (key, value) VALUES (?, ?)", list(deploy.globals.items())
                )
            c.execute(
                "UPDATE globals SET value = max(CAST(value AS INTEGER), ?) WHERE key = 'latest_ts'", (deploy.ts,)
            )
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, []
        for conn in pool:
            conn.close()
        self._writer.close()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
