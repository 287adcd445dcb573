"""Exactly-once WebSocket mutations: ``(sessionId, requestId)`` -> result.

The record is written in the mutation's own transaction, so a mutation
re-sent after a reconnect either finds it (and gets the stored result
without running again) or finds nothing because the first run never
committed.
"""

from __future__ import annotations

from typing import Any

from livebase.database.catalog import SESSION_REQUESTS
from livebase.database.query import Query
from livebase.database.transaction import Transaction


def find_session_request(txn: Transaction, session_id: str, request_id: int) -> dict[str, Any] | None:
    table = txn.catalog.table(SESSION_REQUESTS)
    assert table is not None
    q = Query(txn, table).with_index(
        "by_session_request", lambda q: q.eq("sessionId", session_id).eq("requestId", request_id)
    )
    return q.first()


def record_session_request(txn: Transaction, session_id: str, request_id: int, result: Any, log_lines: list[str]) -> None:
    txn.system_insert(
        SESSION_REQUESTS,
        {"sessionId": session_id, "requestId": request_id, "result": result, "logLines": log_lines},
    )


# Records older than this can no longer be re-sent by a reconnecting client.
RETENTION_MS = 24 * 3600 * 1000


def prune_session_requests(txn: Transaction, now_ms: float, limit: int = 1000) -> int:
    """Delete up to ``limit`` records older than the retention; returns how many."""
    table = txn.catalog.table(SESSION_REQUESTS)
    assert table is not None
    cutoff = now_ms - RETENTION_MS
    old = Query(txn, table).with_index("by_creation_time", lambda q: q.lt("_creationTime", cutoff)).take(limit)
    for doc in old:
        txn.delete(doc["_id"], system=True)
    return len(old)
