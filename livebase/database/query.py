"""``ctx.db.query(table)``: the query builder and its terminals.

    ctx.db.query("messages")
        .with_index("by_channel", lambda q: q.eq("channel", channel))
        .order("desc")
        .filter(lambda q: q.neq(q.field("author"), "bot"))
        .take(50)

Only index order exists: ``with_index`` picks the index and range,
``order`` the direction, ``filter`` drops rows after they were read (the
rows still count as read, for limits and for reactivity).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterator
from typing import Any

from livebase.database.catalog import BY_CREATION_TIME, IndexInfo, TableInfo
from livebase.database.errors import DatabaseError
from livebase.database.filters import Evaluator, FilterBuilder, compile_filter
from livebase.database.index_range import IndexRangeBuilder, KeyRange, compile_range
from livebase.database.transaction import Scan, Transaction
from livebase.values.sort_key import successor

_CURSOR_VERSION = 1
_END = "end"


class InvalidCursor(DatabaseError):
    code = "InvalidCursor"


# A cursor is: version byte, 12-byte query fingerprint, then "E" (the end)
# or "K" + the index key of the last row returned, then an 8-byte MAC under
# the deployment's cursor key; base64url without padding. The MAC keeps
# clients from steering a query with hand-made keys.
_MAC_LEN = 8


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:_MAC_LEN]


def _encode_cursor(key: bytes, fingerprint: bytes, position: bytes | str) -> str:
    tail = b"E" if position == _END else b"K" + position  # type: ignore[operator]
    payload = bytes([_CURSOR_VERSION]) + fingerprint + tail
    return base64.urlsafe_b64encode(payload + _mac(key, payload)).decode("ascii").rstrip("=")


def _decode_cursor(key: bytes, cursor: str, fingerprint: bytes) -> bytes | str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except ValueError:
        raw = b""
    if base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=") != cursor:
        raw = b""  # only the canonical spelling (unused bits zero) is a cursor
    payload, mac = raw[:-_MAC_LEN], raw[-_MAC_LEN:]
    if (
        len(payload) < 14
        or payload[0] != _CURSOR_VERSION
        or payload[13:14] not in (b"E", b"K")
        or not hmac.compare_digest(mac, _mac(key, payload))
    ):
        raise InvalidCursor(f"paginate(): {cursor[:40]!r} is not a cursor returned by paginate() (or it was altered)")
    if payload[1:13] != fingerprint:
        raise InvalidCursor(
            "paginate(): this cursor belongs to a different query; a cursor is only valid for the "
            "same table, index, range, order and filter"
        )
    return _END if payload[13:14] == b"E" else payload[14:]


class Query:
    """A query over one table. Build it, then call a terminal once."""

    def __init__(self, txn: Transaction, table: TableInfo) -> None:
        self._txn = txn
        self._table = table
        self._index: IndexInfo = table.indexes[BY_CREATION_TIME]
        self._range: KeyRange = compile_range(self._index, None)
        self._range_text = ""
        self._index_set = False
        self._descending = False
        self._order_set = False
        self._filters: list[Evaluator] = []
        self._filter_text: list[str] = []
        self._used = False

    # -- building --------------------------------------------------------------

    def with_index(self, name: str, range: Callable[[IndexRangeBuilder], Any] | None = None) -> Query:
        if self._index_set:
            raise DatabaseError("with_index() can only be called once per query")
        if self._filters:
            raise DatabaseError("call with_index() before filter()")
        index = self._table.indexes.get(name)
        if index is None:
            names = ", ".join(sorted(self._table.indexes))
            raise DatabaseError(f'Index "{name}" not found on table "{self._table.name}" (its indexes: {names})')
        builder = None
        if range is not None:
            builder = IndexRangeBuilder()
            result = range(builder)
            if result is not builder and result is not None:
                raise DatabaseError(
                    "the with_index() range lambda must return the q it was given "
                    "(e.g. lambda q: q.eq('channel', c))"
                )
        self._index = index
        self._range = compile_range(index, builder)
        self._range_text = repr([(op, f, v) for op, f, v in builder._ops]) if builder else ""
        self._index_set = True
        return self

    def full_table_scan(self) -> Query:
        """Read the whole table in creation order (the default)."""
        return self

    def order(self, order: str) -> Query:
        if order not in ("asc", "desc"):
            raise DatabaseError(f'order() takes "asc" or "desc", got {order!r}')
        if self._order_set:
            raise DatabaseError("order() can only be called once per query")
        self._descending = order == "desc"
        self._order_set = True
        return self

    def filter(self, predicate: Callable[[FilterBuilder], Any]) -> Query:
        if not callable(predicate):
            raise DatabaseError("filter() takes a function of q, like lambda q: q.eq(q.field('done'), False)")
        evaluator, text = compile_filter(predicate)
        self._filters.append(evaluator)
        self._filter_text.append(text)
        return self

    # -- running ---------------------------------------------------------------

    def _start(self, rng: KeyRange | None = None, page_hint: int = 64) -> Scan:
        if self._used:
            raise DatabaseError("a query can only be run once; build a new one with ctx.db.query()")
        self._used = True
        return self._txn.scan(
            self._table, self._index, rng or self._range, descending=self._descending, page_hint=page_hint
        )

    def _rows(self, scan: Scan) -> Iterator[dict[str, Any]]:
        filters = self._filters
        if not filters:
            yield from scan
            return
        for doc in scan:
            if all(f(doc) for f in filters):
                yield doc

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._rows(self._start())

    def take(self, n: int) -> list[dict[str, Any]]:
        if type(n) is not int or n < 0:
            raise DatabaseError(f"take() needs a non-negative integer, got {n!r}")
        if n == 0:
            self._used = True
            return []
        scan = self._start(page_hint=n if not self._filters else 64)
        out = []
        try:
            for doc in self._rows(scan) if self._filters else scan:
                out.append(doc)
                if len(out) >= n:
                    break
        finally:
            scan.close()
        return out

    def first(self) -> dict[str, Any] | None:
        rows = self.take(1)
        return rows[0] if rows else None

    def unique(self) -> dict[str, Any] | None:
        rows = self.take(2)
        if len(rows) > 1:
            raise DatabaseError(
                f"unique() found more than one document in table {self._table.name!r}: "
                f"{rows[0]['_id']} and {rows[1]['_id']}",
                code="UniqueQueryMultipleResults",
            )
        return rows[0] if rows else None

    def collect(self) -> list[dict[str, Any]]:
        scan = self._start(page_hint=256)
        try:
            return list(self._rows(scan))
        finally:
            scan.close()

    def _fingerprint(self) -> bytes:
        parts = [
            self._table.name,
            self._index.name,
            self._range_text,
            "desc" if self._descending else "asc",
            *self._filter_text,
        ]
        return hashlib.sha256("\x00".join(parts).encode()).digest()[:12]

    def paginate(self, opts: dict[str, Any]) -> dict[str, Any]:
        """One page: ``{"page", "isDone", "continueCursor"}`` (Convex's shape).

        ``opts``: ``numItems``, ``cursor`` (None for the first page), and
        optionally ``endCursor`` (read up to and including it, whatever the
        count) and ``maximumRowsRead``.
        """
        if not isinstance(opts, dict):
            raise DatabaseError('paginate() takes {"numItems": n, "cursor": str | None}')
        num = opts.get("numItems")
        if isinstance(num, float) and num.is_integer():
            num = int(num)
        if type(num) is not int or num < 0:
            raise DatabaseError(f"paginate(): numItems must be a non-negative integer, got {num!r}")
        cursor = opts.get("cursor")
        end_cursor = opts.get("endCursor")
        max_rows = opts.get("maximumRowsRead")
        journal = self._txn.journal
        journaled_end = journal.next_end()
        if end_cursor is None:
            end_cursor = journaled_end
        result = self._page(num, cursor, end_cursor, max_rows)
        journal.record(end_cursor if end_cursor is not None else result["continueCursor"])
        return result

    def _page(self, num: int, cursor: Any, end_cursor: Any, max_rows: Any) -> dict[str, Any]:
        fp = self._fingerprint()
        key = self._txn.db.cursor_key
        rng = self._range
        if cursor is not None:
            if not isinstance(cursor, str):
                raise InvalidCursor(f"paginate(): cursor must be a string or None, got {cursor!r}")
            position = _decode_cursor(key, cursor, fp)
            if position == _END:
                self._used = True
                return {"page": [], "isDone": True, "continueCursor": _encode_cursor(key, fp, _END)}
            assert isinstance(position, bytes)
            # Clamped to the query's range, whatever the cursor says.
            if self._descending:
                rng = KeyRange(rng.start, position if rng.end is None else min(position, rng.end))
            else:
                rng = KeyRange(max(successor(position), rng.start), rng.end)
        stop_at: bytes | str | None = None
        if end_cursor is not None:
            if not isinstance(end_cursor, str):
                raise InvalidCursor(f"paginate(): endCursor must be a string, got {end_cursor!r}")
            stop_at = _decode_cursor(key, end_cursor, fp)
            if isinstance(stop_at, bytes):
                if self._descending:
                    rng = KeyRange(max(rng.start, stop_at), rng.end)
                else:
                    end = successor(stop_at)
                    rng = KeyRange(rng.start, end if rng.end is None or end < rng.end else rng.end)
        scan = self._start(rng, page_hint=num + 1)
        page: list[dict[str, Any]] = []
        done = True
        rows_read_start = self._txn.docs_scanned
        try:
            it = iter(scan)
            for doc in it:
                if all(f(doc) for f in self._filters):
                    page.append(doc)
                if stop_at is None and len(page) >= num:
                    done = False
                    break
                if max_rows is not None and self._txn.docs_scanned - rows_read_start >= max_rows:
                    done = False
                    break
            else:
                done = True
        finally:
            scan.close()
        if done and stop_at is not None and isinstance(stop_at, bytes):
            # The page was bounded by endCursor: the query continues after it.
            return {"page": page, "isDone": False, "continueCursor": end_cursor}
        if done:
            return {"page": page, "isDone": True, "continueCursor": _encode_cursor(key, fp, _END)}
        assert scan.last_key is not None
        return {"page": page, "isDone": False, "continueCursor": _encode_cursor(key, fp, scan.last_key)}
