"""Transactions, queries, OCC and the committer."""

from livebase.database.catalog import Catalog, IndexInfo, TableInfo
from livebase.database.committer import CommitEntry, Committer
from livebase.database.database import Database, DeployReport, SchemaPushError
from livebase.database.errors import CommitFailed, DatabaseError, LimitExceeded, OccConflict
from livebase.database.query import InvalidCursor, Query
from livebase.database.read_set import ReadSet
from livebase.database.transaction import Transaction

__all__ = [
    "Catalog",
    "CommitEntry",
    "CommitFailed",
    "Committer",
    "Database",
    "DatabaseError",
    "DeployReport",
    "IndexInfo",
    "InvalidCursor",
    "LimitExceeded",
    "OccConflict",
    "Query",
    "ReadSet",
    "SchemaPushError",
    "TableInfo",
    "Transaction",
]
