"""The database: transactions over a storage engine, and schema pushes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from livebase.database.catalog import (
    BY_CREATION_TIME,
    BY_ID,
    SYSTEM_TABLES,
    Catalog,
    IndexInfo,
    TableInfo,
)
from livebase.database.committer import Committer
from livebase.database.errors import CommitFailed, OccConflict
from livebase.database.read_set import ReadSet
from livebase.database.transaction import PreparedCommit, Transaction
from livebase.errors import LivebaseError
from livebase.persistence import Persistence, open_persistence
from livebase.persistence.base import (
    CommitRecord,
    Deploy,
    IndexBuild,
    IndexRow,
    LazySnapshot,
    SnapshotReader,
    TableRow,
)
from livebase.schema.schema import SchemaDefinition
from livebase.schema.validators import ValidationError
from livebase.values.codec import decode_document
from livebase.values.ids import IdGenerator

log = logging.getLogger("livebase.database")

T = TypeVar("T")

MAX_OCC_RETRIES = 4


class SchemaPushError(LivebaseError):
    """Existing data doesn't fit a new schema; nothing was changed."""

    code = "SchemaValidationError"


@dataclass
class DeployReport:
    tables_created: list[str] = field(default_factory=list)
    indexes_added: list[str] = field(default_factory=list)
    indexes_removed: list[str] = field(default_factory=list)
    documents_validated: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.tables_created or self.indexes_added or self.indexes_removed)


# progress(stage, done, total)
Progress = Callable[[str, int, int], None]


class Database:
    def __init__(self, persistence: Persistence) -> None:
        self.persistence = persistence
        state = persistence.load_catalog()
        self.catalog = Catalog.load(state)
        self.globals: dict[str, bytes] = dict(state.globals)
        self.committer = Committer(persistence, self.catalog, state.latest_ts)
        self.ids = IdGenerator()
        # Authenticates pagination cursors; kept so cursors survive restarts.
        cursor_key = self.globals.get("cursor_key")
        if cursor_key is None:
            cursor_key = os.urandom(32)
            persistence.write_batch([CommitRecord(state.latest_ts, [], globals={"cursor_key": cursor_key})])
            self.globals["cursor_key"] = cursor_key
        self.cursor_key: bytes = cursor_key
        self._deploying: asyncio.Event | None = None  # set while writes may proceed

    @classmethod
    def open(cls, url: str) -> Database:
        return cls(open_persistence(url))

    # -- transactions -------------------------------------------------------------

    def begin_read(self, snapshot: SnapshotReader | None = None) -> Transaction:
        """A read-only transaction at the latest durable snapshot, or at a
        shared ``snapshot`` (which the caller closes) so that several
        queries see exactly the same data."""
        if snapshot is not None:
            return Transaction(self, snapshot, writable=False, owns_snapshot=False)
        return Transaction(self, self.persistence.snapshot(), writable=False)

    def snapshot(self) -> SnapshotReader:
        return self.persistence.snapshot()

    def begin_write(self) -> Transaction:
        """A read-write transaction that also sees commits not yet durable."""
        c = self.committer
        return Transaction(
            self, LazySnapshot(self.persistence.snapshot), writable=True, overlay=c.overlay, begin_ts=c.last_ts
        )

    async def writes_allowed(self) -> None:
        """Wait while a schema push holds writes back."""
        while self._deploying is not None and not self._deploying.is_set():
            await self._deploying.wait()

    async def commit(self, txn: Transaction) -> int:
        """Commit and wait until durable; returns the commit timestamp."""
        prepared = txn.prepare_commit()
        c = self.committer
        if prepared.is_empty:
            # It may have read commits that are not durable yet: their fate is its fate.
            await c.wait_published(prepared.begin_ts)
            return max(prepared.begin_ts, c.published_ts)
        return await c.submit(prepared)

    async def run_in_transaction(self, body: Callable[[Transaction], T], *, on_retry: Callable[[int, OccConflict], None] | None = None) -> tuple[T, int]:
        """Run ``body`` in a write transaction and commit it, retrying on OCC
        conflicts with backoff. Returns ``(result, commit_ts)``."""
        attempt = 0
        while True:
            await self.writes_allowed()
            txn = self.begin_write()
            try:
                result = body(txn)
            finally:
                txn.close()
            try:
                return result, await self.commit(txn)
            except OccConflict as conflict:
                attempt += 1
                if on_retry is not None:
                    on_retry(attempt, conflict)
                if attempt > MAX_OCC_RETRIES:
                    raise OccConflict(
                        f"{conflict.message} and on every subsequent retry ({MAX_OCC_RETRIES} retries). "
                        "Another mutation keeps writing the same documents or index range.",
                        conflicting_ts=conflict.conflicting_ts,
                        table=conflict.table,
                        index=conflict.index,
                    ) from None
                with contextlib.suppress(CommitFailed):
                    await self.committer.wait_published(conflict.conflicting_ts)
                if attempt > 1:
                    await asyncio.sleep(min(2.0, 0.1 * 2 ** (attempt - 2)) * (0.5 + random.random()))

    async def write_globals(
        self,
        values: dict[str, bytes],
        *,
        written_keys: dict[int, list[bytes]] | None = None,
        on_publish: Callable[[], None] | None = None,
    ) -> int:
        """Durably store deployment-wide settings (admin key, env vars...).

        ``written_keys`` names pseudo-index keys the change invalidates;
        ``on_publish`` applies the change in memory when the commit is
        published, before the queries it invalidates re-run."""
        await self.writes_allowed()

        def publish() -> None:
            self.globals.update(values)
            if on_publish is not None:
                on_publish()

        prepared = PreparedCommit(
            self.committer.last_ts,
            ReadSet(),
            [],
            [],
            dict(written_keys or {}),
            globals=dict(values),
            on_publish=publish,
        )
        return await self.committer.submit(prepared)

    # -- schema -----------------------------------------------------------------

    def table_number(self, name: str) -> int | None:
        return self.catalog.table_number(name)

    async def apply_schema(self, schema: SchemaDefinition | None, progress: Progress | None = None) -> DeployReport:
        """Make storage match ``schema``: create declared tables, validate
        existing documents, build new indexes and drop removed ones, in one
        atomic storage transaction. Writes wait while this runs. Raises
        ``SchemaPushError`` (changing nothing) if a document doesn't fit."""
        if self._deploying is not None and not self._deploying.is_set():
            await self._deploying.wait()
        gate = asyncio.Event()
        self._deploying = gate
        try:
            await self.committer.wait_idle()
            return await self._apply_schema(schema, progress)
        finally:
            gate.set()

    async def _apply_schema(self, schema: SchemaDefinition | None, progress: Progress | None) -> DeployReport:
        cat = self.catalog
        report = DeployReport()
        declared = schema.tables if schema else {}

        # Plan: tables to create, indexes to build and to drop.
        new_tables: list[TableInfo] = []
        for name in declared:
            table = cat.table(name)
            if table is None:
                table = cat.create_table(name)
                new_tables.append(table)
                report.tables_created.append(name)
            elif not table.persisted:
                new_tables.append(table)
        builds: list[tuple[TableInfo, str, tuple[str, ...]]] = []
        drops: list[IndexInfo] = []
        for table in list(cat.tables_by_name.values()):
            if table.is_system:
                wanted = dict(SYSTEM_TABLES.get(table.name, (0, {}))[1])
                if not table.persisted:
                    new_tables.append(table)
            else:
                tdef = declared.get(table.name)
                wanted = {ix.name: tuple(ix.fields) for ix in tdef.indexes} if tdef else {}
            for ix in table.indexes.values():
                if ix.name in (BY_ID, BY_CREATION_TIME):
                    continue
                if wanted.get(ix.name) != ix.fields:
                    drops.append(ix)
            for name, fields in wanted.items():
                existing = table.indexes.get(name)
                if existing is None or existing.fields != fields:
                    builds.append((table, name, fields))

        def work() -> tuple[list[IndexInfo], int]:
            validated = 0
            # 1. Validate existing documents.
            if schema is not None and schema.schema_validation:
                for name, tdef in declared.items():
                    table = cat.table(name)
                    if tdef.validator is None or table is None or table in new_tables:
                        continue
                    total = self.persistence.count_table(table.table_number)
                    done = 0
                    for rows in self.persistence.iterate_table(table.table_number):
                        for _id_key, raw in rows:
                            doc = decode_document(raw)
                            try:
                                tdef.validate_document(doc, table=name, tables=cat.table_number)
                            except ValidationError as e:
                                where = f", field {e.path}" if e.path else ""
                                raise SchemaPushError(
                                    f"Schema validation failed: document {doc.get('_id')} in table {name!r}"
                                    f"{where} does not match the new schema: {e.detail}"
                                ) from None
                            done += 1
                        if progress:
                            progress(f"validate {name}", done, total)
                    validated += done
            # 2. Build new indexes (and persist new tables) atomically.
            infos: list[IndexInfo] = []
            index_builds: list[IndexBuild] = []
            for table, name, fields in builds:
                info = IndexInfo(cat.allocate_index_id(), table.table_number, table.name, name, fields)
                infos.append(info)
                total = 0 if table in new_tables else self.persistence.count_table(table.table_number)
                index_builds.append(IndexBuild(info.row(), _entries(self, table, info, total, progress)))
            deploy = Deploy(
                ts=self.committer.next_ts(),
                tables=[TableRow(t.table_number, t.name) for t in new_tables],
                builds=[IndexBuild(row, []) for t in new_tables for row in _table_index_rows(t, builds)]
                + index_builds,
                dropped_indexes=[ix.index_id for ix in drops],
                globals={"schema": orjson.dumps(schema.to_json() if schema else None)},
            )
            self.persistence.apply_deploy(deploy)
            self.committer.record_external(deploy.ts)
            return infos, validated

        infos, validated = await self.committer.run_in_writer(work)
        # Storage changed: now change the in-memory catalog to match.
        for ix in drops:
            cat.drop_index(ix)
            report.indexes_removed.append(f"{ix.table_name}.{ix.name}")
        for info in infos:
            table = cat.tables_by_number[info.table_number]
            old = table.indexes.get(info.name)
            if old is not None:
                cat.drop_index(old)
            table.indexes[info.name] = info
            cat.indexes_by_id[info.index_id] = info
            report.indexes_added.append(f"{info.table_name}.{info.name}")
        for t in new_tables:
            t.persisted = True
        cat.schema = schema
        self.globals["schema"] = orjson.dumps(schema.to_json() if schema else None)
        report.documents_validated = validated
        return report

    def close(self) -> None:
        self.committer.close()
        self.persistence.close()


def _table_index_rows(table: TableInfo, builds: list[tuple[TableInfo, str, tuple[str, ...]]]) -> list[IndexRow]:
    """Catalog rows of a new table's existing (empty) indexes, except those rebuilt anyway."""
    rebuilt = {name for t, name, _ in builds if t is table}
    return [ix.row() for ix in table.indexes.values() if ix.name not in rebuilt]


def _entries(db: Database, table: TableInfo, info: IndexInfo, total: int, progress: Progress | None) -> Any:
    done = 0
    for rows in db.persistence.iterate_table(table.table_number):
        for id_key, raw in rows:
            yield info.key_of(decode_document(raw)), id_key
        done += len(rows)
        if progress:
            progress(f"index {table.name}.{info.name}", done, total)
