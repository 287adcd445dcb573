"""Storage engines behind one small interface (see ``base``)."""

from livebase.persistence.base import (
    CatalogState,
    CommitRecord,
    Deploy,
    DocumentWrite,
    IndexBuild,
    IndexRow,
    Persistence,
    SnapshotReader,
    TableRow,
)


def open_persistence(url: str) -> Persistence:
    """Open a storage engine from a URL: a SQLite file path or ``sqlite:///path``."""
    if url.startswith(("postgres://", "postgresql://")):
        raise NotImplementedError("the PostgreSQL adapter is not available yet; use a SQLite path")
    from livebase.persistence.sqlite import SqlitePersistence

    path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
    return SqlitePersistence(path)


__all__ = [
    "CatalogState",
    "CommitRecord",
    "Deploy",
    "DocumentWrite",
    "IndexBuild",
    "IndexRow",
    "Persistence",
    "SnapshotReader",
    "TableRow",
    "open_persistence",
]
