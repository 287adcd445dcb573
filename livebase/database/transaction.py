"""A transaction: reads at one snapshot, buffered writes, a read set.

Reads see, from top to bottom: this transaction's own writes, then (for
mutations) the commits that are assigned a timestamp but not yet durable
(the committer's overlay), then the storage snapshot. Every read records
what it depended on in ``read_set``; ``prepare_commit`` turns the buffered
writes into document versions and index-entry changes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from livebase.database.catalog import PUBLIC_SYSTEM_TABLES, IndexInfo, TableInfo
from livebase.database.errors import DatabaseError, LimitExceeded
from livebase.database.index_range import KeyRange
from livebase.database.journal import QueryJournal
from livebase.database.read_set import ReadSet
from livebase.persistence.base import DocumentWrite, IndexRow, SnapshotReader, TableRow
from livebase.schema.schema import SchemaError, check_table_name
from livebase.values.codec import decode_document, encode_document
from livebase.values.ids import decode_id
from livebase.values.limits import MAX_DOCUMENT_SIZE, MAX_TOP_LEVEL_FIELD_NAME
from livebase.values.model import UNDEFINED, normalize_value, normalize_value_sized
from livebase.values.sort_key import sort_key, successor

if TYPE_CHECKING:
    from livebase.database.database import Database


class Limits:
    """Per-transaction limits (SEMANTICS.md §10)."""

    max_docs_scanned = 32_000
    max_bytes_read = 16 << 20
    max_index_ranges = 4_096
    max_docs_written = 16_000
    max_bytes_written = 16 << 20


@dataclass(slots=True)
class PendingDoc:
    """A document version from a commit that is not yet durable."""

    doc: dict[str, Any] | None
    ts: int


# table number -> id key -> latest not-yet-durable version
Overlay = dict[int, dict[bytes, PendingDoc]]


@dataclass(slots=True)
class Write:
    table: TableInfo
    id: str
    id_key: bytes
    base: dict[str, Any] | None  # the version visible before this transaction
    doc: dict[str, Any] | None  # the new version (None: deleted)


@dataclass(slots=True)
class PreparedCommit:
    begin_ts: int
    read_set: ReadSet
    writes: list[Write]
    doc_writes: list[DocumentWrite]
    # index id -> old and new keys of every written document
    written_keys: dict[int, list[bytes]]
    tables: list[TableRow] = field(default_factory=list)
    indexes: list[IndexRow] = field(default_factory=list)
    new_tables: list[TableInfo] = field(default_factory=list)
    globals: dict[str, bytes] = field(default_factory=dict)
    # Runs when the commit is published, before subscriptions re-run.
    on_publish: Callable[[], None] | None = None

    @property
    def is_empty(self) -> bool:
        return not self.doc_writes and not self.globals


def copy_value(v: Any) -> Any:
    t = type(v)
    if t is dict:
        return {k: copy_value(x) for k, x in v.items()}
    if t is list:
        return [copy_value(x) for x in v]
    return v


class Scan:
    """Rows of one index range in key order, merged with newer versions.

    Records the part of the range it actually pulled into the read set when
    it is closed (explicitly, or when the transaction ends).
    """

    def __init__(
        self,
        txn: Transaction,
        table: TableInfo,
        index: IndexInfo,
        rng: KeyRange,
        descending: bool,
        page_hint: int,
    ) -> None:
        self.txn = txn
        self.table = table
        self.index = index
        self.range = rng
        self.descending = descending
        self.page = max(8, min(page_hint, 1000))
        self.last_key: bytes | None = None
        self.exhausted = False
        self.closed = False
        # Newer versions of documents of this table (overlay, then own writes).
        touched: dict[bytes, dict[str, Any] | None] = {}
        ov = txn.overlay.get(table.table_number)
        if ov:
            begin = txn.begin_ts
            for id_key, pending in ov.items():
                # Newer than this transaction's start: not part of its view.
                if pending.ts <= begin:
                    touched[id_key] = pending.doc
        own = txn.writes.get(table.table_number)
        if own:
            for id_key, w in own.items():
                touched[id_key] = w.doc
        self.touched = touched
        injected = []
        for doc in touched.values():
            if doc is not None:
                key = index.key_of(doc)
                if rng.contains(key):
                    injected.append((key, doc))
        injected.sort(key=lambda kd: kd[0], reverse=descending)
        self.injected = injected

    def _base_rows(self) -> Iterator[tuple[bytes, bytes, bytes]]:
        txn = self.txn
        snap = txn.snapshot
        rng = self.range
        start, end = rng.start, rng.end
        index_id = None if self.index.is_by_id else self.index.index_id
        page = self.page
        while True:
            rows = snap.scan(self.table.table_number, index_id, start, end, self.descending, page)
            yield from rows
            if len(rows) < page:
                return
            last = rows[-1][0]
            if self.descending:
                end = last
            else:
                start = successor(last)
            page = min(page * 2, 1000)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        txn = self.txn
        touched = self.touched
        injected = self.injected
        desc = self.descending
        i = 0
        n_inj = len(injected)
        try:
            for key, id_key, raw in self._base_rows():
                if id_key in touched:
                    continue
                while i < n_inj and (injected[i][0] > key if desc else injected[i][0] < key):
                    ikey, idoc = injected[i]
                    i += 1
                    txn._count_scanned(0)
                    self.last_key = ikey
                    yield copy_value(idoc)
                txn._count_scanned(len(raw))
                self.last_key = key
                yield decode_document(raw)
            while i < n_inj:
                ikey, idoc = injected[i]
                i += 1
                txn._count_scanned(0)
                self.last_key = ikey
                yield copy_value(idoc)
            self.exhausted = True
        finally:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        rng = self.range
        iid = self.index.index_id
        rs = self.txn.read_set
        if self.exhausted:
            rs.add_interval(iid, rng.start, rng.end)
        elif self.last_key is not None:
            if self.descending:
                rs.add_interval(iid, self.last_key, rng.end)
            else:
                rs.add_interval(iid, rng.start, successor(self.last_key))


class Transaction:
    def __init__(
        self,
        db: Database,
        snapshot: SnapshotReader,
        *,
        writable: bool,
        overlay: Overlay | None = None,
        begin_ts: int | None = None,
        owns_snapshot: bool = True,
    ) -> None:
        self.db = db
        self.owns_snapshot = owns_snapshot
        self.catalog = db.catalog
        self.snapshot = snapshot
        self.writable = writable
        self.overlay: Overlay = overlay if overlay is not None else {}
        # A write transaction's start is the last timestamp handed out (its
        # view includes the overlay); reading snapshot.ts would open it.
        self.begin_ts = snapshot.ts if begin_ts is None else begin_ts
        self.read_set = ReadSet()
        self.writes: dict[int, dict[bytes, Write]] = {}
        self.now_ms = time.time() * 1000.0
        self._creation_time = self.now_ms
        self._scans: list[Scan] = []
        self.journal = QueryJournal()
        self.docs_scanned = 0
        self.bytes_read = 0
        self.index_ranges = 0
        self.docs_written = 0
        self.bytes_written = 0
        self.closed = False

    # -- limits ----------------------------------------------------------------

    def _count_scanned(self, nbytes: int) -> None:
        self.docs_scanned += 1
        self.bytes_read += nbytes
        if self.docs_scanned > Limits.max_docs_scanned:
            raise LimitExceeded(
                f"Too many documents read in a single function execution (limit: {Limits.max_docs_scanned}). "
                "Use an index range, take(n) or paginate() to read less.",
                code="TooManyDocumentsRead",
            )
        if self.bytes_read > Limits.max_bytes_read:
            raise LimitExceeded(
                f"Too many bytes read in a single function execution (limit: {Limits.max_bytes_read} bytes).",
                code="TooManyBytesRead",
            )

    def _count_range(self) -> None:
        self.index_ranges += 1
        if self.index_ranges > Limits.max_index_ranges:
            raise LimitExceeded(
                f"Too many reads (db.get and queries) in a single function execution "
                f"(limit: {Limits.max_index_ranges}).",
                code="TooManyReads",
            )

    def _count_write(self, size: int) -> None:
        self.docs_written += 1
        self.bytes_written += size
        if self.docs_written > Limits.max_docs_written:
            raise LimitExceeded(
                f"Too many documents written in a single function execution (limit: {Limits.max_docs_written}).",
                code="TooManyWrites",
            )
        if self.bytes_written > Limits.max_bytes_written:
            raise LimitExceeded(
                f"Too many bytes written in a single function execution (limit: {Limits.max_bytes_written} bytes).",
                code="TooManyBytesWritten",
            )

    # -- helpers ---------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise DatabaseError("this transaction has already finished; ctx.db can't be used after the function returned")

    def _check_writable(self, op: str) -> None:
        self._check_open()
        if not self.writable:
            raise DatabaseError(f"db.{op}() is not allowed in a query; use a mutation to write")

    def table_for_read(self, name: str, *, system: bool = False) -> TableInfo:
        """The table to read, created in the catalog (not storage) if unknown so
        that the read can still be recorded and invalidated by later inserts."""
        if system:
            table = self.catalog.table(name)
            if table is None or name not in PUBLIC_SYSTEM_TABLES:
                raise DatabaseError(
                    f"{name!r} is not a system table you can read (system tables: {', '.join(PUBLIC_SYSTEM_TABLES)})"
                )
            return table
        if isinstance(name, str) and name.startswith("_"):
            raise DatabaseError(f"{name!r} is a system table; read it with ctx.db.system.query({name!r})")
        try:
            check_table_name(name)
        except SchemaError as e:
            raise DatabaseError(str(e)) from None
        table = self.catalog.table(name)
        if table is None:
            table = self.catalog.create_table(name)
        return table

    def resolve_id(self, id: Any, op: str, *, table_name: str | None = None, system: bool = False) -> tuple[TableInfo | None, bytes]:
        """Decode an id; returns (table or None if its table doesn't exist, id key)."""
        if type(id) is not str:
            raise DatabaseError(f"db.{op}() needs a document id string, got {type(id).__name__} {id!r}")
        decoded = decode_id(id)
        if decoded is None:
            raise DatabaseError(f"db.{op}(): {id[:60]!r} is not a valid document id")
        table = self.catalog.tables_by_number.get(decoded.table_number)
        if table_name is not None:
            expected = self.catalog.table(table_name)
            if expected is None or table is not expected:
                raise DatabaseError(f"db.{op}(): id {id!r} does not belong to table {table_name!r}")
        if table is not None:
            if table.is_system and not system:
                raise DatabaseError(
                    f"db.{op}(): {id!r} is an id in the system table {table.name!r}; use ctx.db.system"
                )
            if system and not table.is_system:
                raise DatabaseError(f"db.system.{op}(): {id!r} is not an id of a system table")
        return table, sort_key(id)

    def _visible_base(self, table: TableInfo, id_key: bytes) -> dict[str, Any] | None:
        ov = self.overlay.get(table.table_number)
        if ov is not None:
            pending = ov.get(id_key)
            if pending is not None and pending.ts <= self.begin_ts:
                return pending.doc
        raw = self.snapshot.get(table.table_number, id_key)
        if raw is None:
            return None
        self._count_scanned(len(raw))
        return decode_document(raw)

    def _current(self, table: TableInfo, id_key: bytes) -> tuple[dict[str, Any] | None, Write | None]:
        """The version this transaction sees, recording the read; (doc, own write)."""
        self._count_range()
        self.read_set.add_point(table.by_id.index_id, id_key)
        own = self.writes.get(table.table_number)
        if own is not None:
            w = own.get(id_key)
            if w is not None:
                return w.doc, w
        return self._visible_base(table, id_key), None

    def _next_creation_time(self) -> float:
        self._creation_time = math.nextafter(self._creation_time, math.inf)
        return self._creation_time

    def _check_document(
        self, table: TableInfo, doc: dict[str, Any], op: str, size: int | None = None
    ) -> tuple[dict[str, Any], int]:
        """Schema validation and the size limit; ``size`` if the caller knows it."""
        tdef = self.catalog.table_definition(table.name)
        schema = self.catalog.schema
        if tdef is not None and schema is not None and schema.schema_validation:
            doc = tdef.validate_document(doc, table=table.name, tables=self.catalog.table_number)
        if size is None:
            _, size = normalize_value_sized(doc, where="document")
        if size > MAX_DOCUMENT_SIZE:
            raise DatabaseError(
                f"db.{op}(): the document for table {table.name!r} is {size} bytes, more than the limit of "
                f"{MAX_DOCUMENT_SIZE} bytes",
                code="DocumentTooLarge",
            )
        return doc, size

    @staticmethod
    def _check_user_fields(value: Any, op: str, table_name: str) -> dict[str, Any]:
        if type(value) is not dict:
            raise DatabaseError(f"db.{op}() needs a dict of fields for table {table_name!r}, got {type(value).__name__}")
        for k in value:
            if type(k) is not str:
                raise DatabaseError(f"db.{op}(): field names must be strings, got {k!r}")
            if k.startswith("_") and k not in ("_id", "_creationTime"):
                raise DatabaseError(
                    f"db.{op}(): field {k!r} in table {table_name!r} starts with '_', which is reserved for system fields"
                )
            if len(k) > MAX_TOP_LEVEL_FIELD_NAME:
                raise DatabaseError(
                    f"db.{op}(): field name {k[:40]!r}... in table {table_name!r} is longer than "
                    f"{MAX_TOP_LEVEL_FIELD_NAME} characters"
                )
        return value

    # -- reads -----------------------------------------------------------------

    def get(self, id: Any, *, table_name: str | None = None, system: bool = False) -> dict[str, Any] | None:
        self._check_open()
        table, id_key = self.resolve_id(id, "get", table_name=table_name, system=system)
        if table is None:
            return None
        doc, own = self._current(table, id_key)
        if doc is None:
            return None
        if own is not None or id_key in self.overlay.get(table.table_number, ()):
            return copy_value(doc)
        return doc

    def scan(self, table: TableInfo, index: IndexInfo, rng: KeyRange, *, descending: bool, page_hint: int = 64) -> Scan:
        self._check_open()
        self._count_range()
        scan = Scan(self, table, index, rng, descending, page_hint)
        self._scans.append(scan)
        return scan

    # -- writes ----------------------------------------------------------------

    def insert(self, table_name: Any, value: Any) -> str:
        self._check_writable("insert")
        if not isinstance(table_name, str):
            raise DatabaseError(f"db.insert() takes a table name first, got {table_name!r}")
        if table_name.startswith("_"):
            raise DatabaseError(f"db.insert(): {table_name!r} is a system table and can't be written directly")
        try:
            check_table_name(table_name)
        except SchemaError as e:
            raise DatabaseError(f"db.insert(): {e}") from None
        self._check_user_fields(value, "insert", table_name)
        if "_id" in value or "_creationTime" in value:
            raise DatabaseError(f"db.insert(): don't pass _id or _creationTime for table {table_name!r}; they are assigned")
        body, size = normalize_value_sized(value, where=f"db.insert({table_name!r}, ...)")
        table = self.catalog.table(table_name) or self.catalog.create_table(table_name)
        return self._insert(table, body, size)

    def _insert(self, table: TableInfo, body: dict[str, Any], body_size: int) -> str:
        new_id = self.db.ids.new_id(table.table_number)
        doc = {"_id": new_id, "_creationTime": self._next_creation_time(), **body}
        # The system fields' share of the size: two names, an id string and a number.
        size = body_size + len(new_id) + 2 + 4 + 14 + 9
        doc, size = self._check_document(table, doc, "insert", size)
        id_key = sort_key(new_id)
        self._count_write(size)
        self.writes.setdefault(table.table_number, {})[id_key] = Write(table, new_id, id_key, None, doc)
        return new_id

    def system_insert(self, table_name: str, body: dict[str, Any]) -> str:
        """Insert into a system table (used by the scheduler and file storage)."""
        self._check_writable("insert")
        table = self.catalog.table(table_name)
        if table is None or not table.is_system:
            raise DatabaseError(f"{table_name!r} is not a system table")
        return self._insert(table, *normalize_value_sized(body, where=f"{table_name} document"))

    def _update(self, op: str, id: Any, new_fields: Any, *, merge: bool, table_name: str | None, system: bool = False) -> None:
        self._check_writable(op)
        table, id_key = self.resolve_id(id, op, table_name=table_name, system=system)
        current, own = (None, None) if table is None else self._current(table, id_key)
        if table is None or current is None:
            raise DatabaseError(f"db.{op}(): no document with id {id!r} exists", code="NonexistentDocument")
        if not system:
            self._check_user_fields(new_fields, op, table.name)
        if merge:
            doc = dict(current)
            for k, x in new_fields.items():
                if k in ("_id", "_creationTime"):
                    if x is not UNDEFINED and x != current[k]:
                        raise DatabaseError(f"db.{op}(): the system field {k} can't be changed")
                    continue
                if x is UNDEFINED:
                    doc.pop(k, None)
                else:
                    doc[k] = normalize_value(x, where=f"db.{op}(...).{k}")
        else:
            for k in ("_id", "_creationTime"):
                if k in new_fields and new_fields[k] != current[k]:
                    raise DatabaseError(f"db.{op}(): the system field {k} can't be changed")
            body = normalize_value(
                {k: x for k, x in new_fields.items() if k not in ("_id", "_creationTime")},
                where=f"db.{op}(...)",
            )
            doc = {"_id": current["_id"], "_creationTime": current["_creationTime"], **body}
        doc, size = self._check_document(table, doc, op)
        self._count_write(size)
        base = own.base if own is not None else current
        self.writes.setdefault(table.table_number, {})[id_key] = Write(table, current["_id"], id_key, base, doc)

    def patch(self, id: Any, fields: Any, *, table_name: str | None = None, system: bool = False) -> None:
        self._update("patch", id, fields, merge=True, table_name=table_name, system=system)

    def replace(self, id: Any, value: Any, *, table_name: str | None = None) -> None:
        self._update("replace", id, value, merge=False, table_name=table_name)

    def delete(self, id: Any, *, table_name: str | None = None, system: bool = False) -> None:
        self._check_writable("delete")
        table, id_key = self.resolve_id(id, "delete", table_name=table_name, system=system)
        current, own = (None, None) if table is None else self._current(table, id_key)
        if table is None or current is None:
            raise DatabaseError(f"db.delete(): no document with id {id!r} exists", code="NonexistentDocument")
        self._count_write(0)
        base = own.base if own is not None else current
        self.writes.setdefault(table.table_number, {})[id_key] = Write(table, current["_id"], id_key, base, None)

    # -- end -------------------------------------------------------------------

    def close(self) -> None:
        """Finish reading: record open scans and release the snapshot."""
        if self.closed:
            return
        for scan in self._scans:
            scan.close()
        self._scans.clear()
        self.closed = True
        if self.owns_snapshot:
            self.snapshot.close()

    def prepare_commit(self) -> PreparedCommit:
        self.close()
        writes: list[Write] = []
        doc_writes: list[DocumentWrite] = []
        written: dict[int, list[bytes]] = {}
        new_tables: list[TableInfo] = []
        tables: list[TableRow] = []
        indexes: list[IndexRow] = []
        for table_number, by_key in self.writes.items():
            table = self.catalog.tables_by_number[table_number]
            if not table.persisted:
                row, ix_rows = self.catalog.catalog_rows(table)
                tables.append(row)
                indexes.extend(ix_rows)
                new_tables.append(table)
            index_list = list(table.indexes.values())
            for id_key, w in by_key.items():
                if w.base is None and w.doc is None:
                    continue  # inserted and deleted in this transaction
                writes.append(w)
                removes: list[tuple[int, bytes]] = []
                adds: list[tuple[int, bytes]] = []
                for ix in index_list:
                    old = ix.key_of(w.base) if w.base is not None else None
                    new = ix.key_of(w.doc) if w.doc is not None else None
                    keys = written.setdefault(ix.index_id, [])
                    if old is not None:
                        keys.append(old)
                    if new is not None and new != old:
                        keys.append(new)
                    if ix.is_by_id or old == new:
                        continue
                    if old is not None:
                        removes.append((ix.index_id, old))
                    if new is not None:
                        adds.append((ix.index_id, new))
                doc_writes.append(
                    DocumentWrite(
                        table_number,
                        id_key,
                        None if w.doc is None else encode_document(w.doc),
                        removes,
                        adds,
                    )
                )
        return PreparedCommit(
            self.begin_ts,
            self.read_set.freeze(),
            writes,
            doc_writes,
            written,
            tables,
            indexes,
            new_tables,
        )
