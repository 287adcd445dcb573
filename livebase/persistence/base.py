"""The narrow interface every storage engine implements.

Persistence knows nothing about schemas, validators or OCC: it stores
document versions keyed by ``(table_number, id_key)``, index entries keyed
by ``(index_id, key)``, catalog rows and a few named globals. Reads happen
at a snapshot (the engine's own MVCC); writes arrive as batches of commits
applied atomically and durably.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field


@dataclass(slots=True)
class TableRow:
    table_number: int
    name: str


@dataclass(slots=True)
class IndexRow:
    index_id: int
    table_number: int
    name: str
    fields: list[str]
    # "ready" indexes are maintained and readable; "backfilling" ones are
    # maintained but not yet readable.
    state: str = "ready"


@dataclass(slots=True)
class DocumentWrite:
    """One document's new version (``value is None`` deletes it) and the
    index entries that change with it."""

    table_number: int
    id_key: bytes
    value: bytes | None
    index_removes: list[tuple[int, bytes]] = field(default_factory=list)
    index_adds: list[tuple[int, bytes]] = field(default_factory=list)


@dataclass(slots=True)
class CommitRecord:
    ts: int
    writes: list[DocumentWrite]
    tables: list[TableRow] = field(default_factory=list)
    indexes: list[IndexRow] = field(default_factory=list)
    globals: dict[str, bytes] = field(default_factory=dict)


@dataclass(slots=True)
class IndexBuild:
    index: IndexRow
    # (key, id_key) pairs, produced lazily while the deploy is applied
    entries: Iterable[tuple[bytes, bytes]]


@dataclass(slots=True)
class Deploy:
    ts: int
    tables: list[TableRow] = field(default_factory=list)
    builds: list[IndexBuild] = field(default_factory=list)
    dropped_indexes: list[int] = field(default_factory=list)
    globals: dict[str, bytes] = field(default_factory=dict)


@dataclass(slots=True)
class CatalogState:
    latest_ts: int
    tables: list[TableRow]
    indexes: list[IndexRow]
    globals: dict[str, bytes]


class SnapshotReader(abc.ABC):
    """Reads at one consistent snapshot. ``ts`` is the latest commit it sees."""

    ts: int

    @abc.abstractmethod
    def get(self, table_number: int, id_key: bytes) -> bytes | None: ...

    @abc.abstractmethod
    def scan(
        self,
        table_number: int,
        index_id: int | None,
        start: bytes,
        end: bytes | None,
        descending: bool,
        limit: int,
    ) -> list[tuple[bytes, bytes, bytes]]:
        """Up to ``limit`` ``(key, id_key, document)`` rows with ``start <= key < end``
        (``end is None``: unbounded), in key order or reversed.

        ``index_id is None`` scans the table's documents by id key (``by_id``).
        """

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> SnapshotReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LazySnapshot(SnapshotReader):
    """Opens the real snapshot on first use: a transaction that only inserts
    never pays for one."""

    __slots__ = ("_open", "_snapshot")

    def __init__(self, open_snapshot: Callable[[], SnapshotReader]) -> None:
        self._open = open_snapshot
        self._snapshot: SnapshotReader | None = None

    def _real(self) -> SnapshotReader:
        if self._snapshot is None:
            self._snapshot = self._open()
        return self._snapshot

    @property
    def ts(self) -> int:  # type: ignore[override]
        return self._real().ts

    def get(self, table_number: int, id_key: bytes) -> bytes | None:
        return self._real().get(table_number, id_key)

    def scan(
        self,
        table_number: int,
        index_id: int | None,
        start: bytes,
        end: bytes | None,
        descending: bool,
        limit: int,
    ) -> list[tuple[bytes, bytes, bytes]]:
        return self._real().scan(table_number, index_id, start, end, descending, limit)

    def close(self) -> None:
        if self._snapshot is not None:
            self._snapshot.close()
            self._snapshot = None


class Persistence(abc.ABC):
    """A storage engine. Reads are synchronous and cheap for embedded engines;
    ``write_batch`` is called from the committer's writer thread."""

    @abc.abstractmethod
    def load_catalog(self) -> CatalogState: ...

    @abc.abstractmethod
    def snapshot(self) -> SnapshotReader:
        """Open a read snapshot at the latest durable commit."""

    @abc.abstractmethod
    def write_batch(self, commits: list[CommitRecord]) -> None:
        """Apply commits in order, atomically, and make them durable before returning."""

    @abc.abstractmethod
    def iterate_table(self, table_number: int, batch: int = 1000) -> Iterator[list[tuple[bytes, bytes]]]:
        """All ``(id_key, document)`` of a table at a fresh snapshot, in batches
        (for schema validation, index backfill and export)."""

    @abc.abstractmethod
    def count_table(self, table_number: int) -> int: ...

    @abc.abstractmethod
    def apply_deploy(self, deploy: Deploy) -> None:
        """Apply a schema push atomically and durably: new catalog rows,
        backfilled indexes, dropped indexes, globals."""

    @abc.abstractmethod
    def close(self) -> None: ...
