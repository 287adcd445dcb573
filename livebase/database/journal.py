"""Query journals: what a query's next run must repeat to stay the same query.

A reactive paginated query would otherwise re-run as "the first numItems
rows from the cursor", so a row inserted inside a page would push the
page's last row out of every page. The journal records where each
``paginate()`` call ended; re-runs (and a client re-subscribing after a
reconnect, which sends the journal back) end there too, so pages grow or
shrink but never leave a gap. Clients treat the journal as opaque text.
"""

from __future__ import annotations

import orjson


class QueryJournal:
    __slots__ = ("_ends_in", "_next", "ends")

    def __init__(self, ends: list[str] | None = None) -> None:
        self._ends_in = ends
        self._next = 0
        self.ends: list[str] = []

    @classmethod
    def decode(cls, text: object) -> QueryJournal:
        """A journal from a client or a previous run; malformed ones are ignored."""
        if not isinstance(text, str):
            return cls()
        try:
            ends = orjson.loads(text)
        except orjson.JSONDecodeError:
            return cls()
        if not isinstance(ends, list) or not all(isinstance(e, str) for e in ends):
            return cls()
        return cls(ends)

    def next_end(self) -> str | None:
        """The end cursor recorded for the next paginate() call, if any."""
        i = self._next
        self._next += 1
        if self._ends_in is not None and i < len(self._ends_in):
            return self._ends_in[i]
        return None

    def record(self, end_cursor: str) -> None:
        self.ends.append(end_cursor)

    def encode(self) -> str | None:
        return orjson.dumps(self.ends).decode() if self.ends else None
