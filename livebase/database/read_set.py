"""What a transaction read, as intervals of index keys (SEMANTICS.md §2).

A ``db.get`` reads one point of ``by_id``; a query reads, per index, the
interval from its range start to the last key it pulled (or the whole
range once exhausted). A commit conflicts with (or invalidates) the read
set when one of its written index keys, old or new, falls in an interval.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

from livebase.values.sort_key import successor

Interval = tuple[bytes, "bytes | None"]  # [start, end), end None = unbounded


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    items = sorted(intervals, key=lambda iv: iv[0])
    out: list[Interval] = []
    for start, end in items:
        if end is not None and start >= end:
            continue
        if out:
            last_start, last_end = out[-1]
            if last_end is None or start <= last_end:
                if last_end is not None and (end is None or end > last_end):
                    out[-1] = (last_start, end)
                continue
        out.append((start, end))
    return out


class ReadSet:
    """Per-index interval sets. Add freely; ``freeze`` sorts and merges them."""

    __slots__ = ("_frozen", "_starts", "intervals")

    def __init__(self) -> None:
        self.intervals: dict[int, list[Interval]] = {}
        self._starts: dict[int, list[bytes]] = {}
        self._frozen = False

    def add_interval(self, index_id: int, start: bytes, end: bytes | None) -> None:
        if end is not None and start >= end:
            return
        lst = self.intervals.get(index_id)
        if lst is None:
            self.intervals[index_id] = [(start, end)]
        else:
            lst.append((start, end))
        self._frozen = False

    def add_point(self, index_id: int, key: bytes) -> None:
        self.add_interval(index_id, key, successor(key))

    def freeze(self) -> ReadSet:
        if not self._frozen:
            self.intervals = {i: merge_intervals(lst) for i, lst in self.intervals.items()}
            self._starts = {i: [s for s, _ in lst] for i, lst in self.intervals.items()}
            self._frozen = True
        return self

    def contains(self, index_id: int, key: bytes) -> bool:
        """Whether ``key`` lies in a read interval of ``index_id`` (call ``freeze`` first)."""
        starts = self._starts.get(index_id)
        if not starts:
            return False
        i = bisect_right(starts, key) - 1
        if i < 0:
            return False
        end = self.intervals[index_id][i][1]
        return end is None or key < end

    def first_conflict(self, written: dict[int, list[bytes]]) -> tuple[int, bytes] | None:
        self.freeze()
        for index_id, keys in written.items():
            if index_id in self.intervals:
                for key in keys:
                    if self.contains(index_id, key):
                        return index_id, key
        return None

    def __len__(self) -> int:
        return sum(len(v) for v in self.intervals.values())
