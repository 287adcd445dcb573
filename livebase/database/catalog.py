"""The in-memory catalog: tables, their numbers and indexes, and the schema.

Every table has two built-in indexes: ``by_id`` (key ``[_id]``, stored as
the documents' primary key) and ``by_creation_time`` (``[_creationTime,
_id]``). A declared index over ``fields`` has key ``[*fields,
_creationTime, _id]``, so keys are unique and sort like the tuples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from livebase.persistence.base import CatalogState, IndexRow, TableRow
from livebase.schema.schema import SchemaDefinition, TableDefinition
from livebase.values.model import UNDEFINED
from livebase.values.sort_key import sort_key, tuple_key

FIRST_USER_TABLE_NUMBER = 10001
# A pseudo-index (real index ids start at 1): environment variable reads are
# recorded on it, and env changes "write" it, so caching and subscriptions
# treat variables like any other data.
ENV_INDEX_ID = 0
SCHEDULED_FUNCTIONS = "_scheduled_functions"
STORAGE = "_storage"
SESSION_REQUESTS = "_session_requests"
CRON_JOBS = "_cron_jobs"
# System tables: fixed numbers below the user range, and their indexes.
SYSTEM_TABLES: dict[str, tuple[int, dict[str, tuple[str, ...]]]] = {
    SCHEDULED_FUNCTIONS: (
        1,
        {
            "by_state_time": ("state.kind", "scheduledTime"),
            # The periodic cleanup deletes finished jobs by age.
            "by_completed_time": ("completedTime",),
        },
    ),
    # Blobs are stored by content hash: deleting a file removes its blob only
    # when no other _storage document has the same sha256.
    STORAGE: (2, {"by_sha256": ("sha256",)}),
    SESSION_REQUESTS: (3, {"by_session_request": ("sessionId", "requestId")}),
    CRON_JOBS: (4, {"by_name": ("name",)}),
}
# The system tables functions may read through ctx.db.system.
PUBLIC_SYSTEM_TABLES = (SCHEDULED_FUNCTIONS, STORAGE)
BY_ID = "by_id"
BY_CREATION_TIME = "by_creation_time"


def get_path(doc: dict[str, Any], parts: tuple[str, ...]) -> Any:
    if len(parts) == 1:
        return doc.get(parts[0], UNDEFINED)
    value: Any = doc
    for part in parts:
        if type(value) is not dict:
            return UNDEFINED
        value = value.get(part, UNDEFINED)
    return value


@dataclass(eq=False)
class IndexInfo:
    index_id: int
    table_number: int
    table_name: str
    name: str
    # The declared fields; by_id: ("_id",), by_creation_time: ().
    fields: tuple[str, ...]
    state: str = "ready"
    # Paths of every key component (declared fields + system fields).
    key_paths: tuple[tuple[str, ...], ...] = ()
    # Fields a with_index range may constrain, in order.
    range_fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        full: tuple[str, ...]
        if self.name == BY_ID:
            full = ("_id",)
        else:
            full = (*self.fields, "_creationTime", "_id")
        self.key_paths = tuple(tuple(f.split(".")) for f in full)
        self.range_fields = full if self.name == BY_ID else full[:-1]

    @property
    def is_by_id(self) -> bool:
        return self.name == BY_ID

    def key_of(self, doc: dict[str, Any]) -> bytes:
        if self.name == BY_ID:
            return sort_key(doc["_id"])
        return tuple_key([get_path(doc, p) for p in self.key_paths])

    def describe(self) -> str:
        return f'index "{self.name}" on table "{self.table_name}"'

    def row(self) -> IndexRow:
        return IndexRow(self.index_id, self.table_number, self.name, list(self.fields), self.state)


@dataclass(eq=False)
class TableInfo:
    table_number: int
    name: str
    indexes: dict[str, IndexInfo] = field(default_factory=dict)
    # False until a commit that writes the table's catalog rows is durable.
    persisted: bool = True

    @property
    def by_id(self) -> IndexInfo:
        return self.indexes[BY_ID]

    @property
    def is_system(self) -> bool:
        return self.name.startswith("_")



class Catalog:
    def __init__(self) -> None:
        self.tables_by_name: dict[str, TableInfo] = {}
        self.tables_by_number: dict[int, TableInfo] = {}
        self.indexes_by_id: dict[int, IndexInfo] = {}
        self.schema: SchemaDefinition | None = None
        self._next_table = FIRST_USER_TABLE_NUMBER
        self._next_index = 1

    @classmethod
    def load(cls, state: CatalogState) -> Catalog:
        cat = cls()
        for row in state.tables:
            cat._add_table(TableInfo(row.table_number, row.name))
        for ix in state.indexes:
            table = cat.tables_by_number.get(ix.table_number)
            if table is None:
                continue
            cat._add_index(table, ix.index_id, ix.name, tuple(ix.fields), ix.state)
        for name, (number, _indexes) in SYSTEM_TABLES.items():
            if name not in cat.tables_by_name:
                cat.create_table(name, number=number)
        return cat

    # -- lookups -------------------------------------------------------------

    def table(self, name: str) -> TableInfo | None:
        return self.tables_by_name.get(name)

    def table_number(self, name: str) -> int | None:
        t = self.tables_by_name.get(name)
        return t.table_number if t else None

    def table_definition(self, name: str) -> TableDefinition | None:
        schema = self.schema
        if schema is None:
            return None
        return schema.tables.get(name)

    # -- changes -------------------------------------------------------------

    def _add_table(self, table: TableInfo) -> None:
        self.tables_by_name[table.name] = table
        self.tables_by_number[table.table_number] = table
        if table.table_number >= self._next_table:
            self._next_table = table.table_number + 1

    def _add_index(self, table: TableInfo, index_id: int, name: str, fields: tuple[str, ...], state: str) -> IndexInfo:
        ix = IndexInfo(index_id, table.table_number, table.name, name, fields, state)
        table.indexes[name] = ix
        self.indexes_by_id[index_id] = ix
        if index_id >= self._next_index:
            self._next_index = index_id + 1
        return ix

    def allocate_index_id(self) -> int:
        n = self._next_index
        self._next_index += 1
        return n

    def create_table(self, name: str, *, number: int | None = None) -> TableInfo:
        """Create a table (not yet persisted) with its built-in indexes."""
        if number is None:
            number = self._next_table
        table = TableInfo(number, name, persisted=False)
        self._add_table(table)
        self._add_index(table, self.allocate_index_id(), BY_ID, ("_id",), "ready")
        self._add_index(table, self.allocate_index_id(), BY_CREATION_TIME, (), "ready")
        for index_name, fields in SYSTEM_TABLES.get(name, (0, {}))[1].items():
            self._add_index(table, self.allocate_index_id(), index_name, fields, "ready")
        return table


    def drop_index(self, index: IndexInfo) -> None:
        table = self.tables_by_number[index.table_number]
        table.indexes.pop(index.name, None)
        self.indexes_by_id.pop(index.index_id, None)

    def catalog_rows(self, table: TableInfo) -> tuple[TableRow, list[IndexRow]]:
        return TableRow(table.table_number, table.name), [ix.row() for ix in table.indexes.values()]
