"""Errors raised by transactions, with messages that name what went wrong."""

from __future__ import annotations

from livebase.errors import LivebaseError


class DatabaseError(LivebaseError):
    """A function used the database API wrongly (bad id, missing document...)."""

    code = "DatabaseError"


class LimitExceeded(LivebaseError):
    code = "TooManyReads"


class OccConflict(LivebaseError):
    """A write committed after this transaction began touched what it read."""

    code = "OptimisticConcurrencyControlFailure"

    def __init__(self, message: str, *, conflicting_ts: int, table: str, index: str) -> None:
        super().__init__(message)
        self.conflicting_ts = conflicting_ts
        self.table = table
        self.index = index


class CommitFailed(LivebaseError):
    """The storage engine failed to make a commit durable."""

    code = "CommitFailed"
