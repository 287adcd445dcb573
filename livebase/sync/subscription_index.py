"""Which subscribed queries does a commit affect?

Every live query instance registers the intervals of its read set here,
per index. A commit's written index keys (old and new) are looked up per
index; only instances whose intervals contain one of them are returned,
at a cost that does not depend on how many unrelated queries exist.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from livebase.database.read_set import ReadSet
from livebase.sync.interval_tree import IntervalIndex


class SubscriptionIndex:
    def __init__(self) -> None:
        self._by_index: dict[int, IntervalIndex] = {}

    def register(self, owner: Hashable, read_set: ReadSet) -> list[tuple[int, bytes, bytes | None]]:
        """Register ``owner`` on every interval of ``read_set``; returns the
        handles to pass to ``unregister``."""
        handles = []
        for index_id, intervals in read_set.intervals.items():
            tree = self._by_index.get(index_id)
            if tree is None:
                tree = self._by_index[index_id] = IntervalIndex()
            for start, end in intervals:
                tree.add(start, end, owner)
                handles.append((index_id, start, end))
        return handles

    def unregister(self, owner: Hashable, handles: Iterable[tuple[int, bytes, bytes | None]]) -> None:
        for index_id, start, end in handles:
            tree = self._by_index.get(index_id)
            if tree is not None:
                tree.remove(start, end, owner)
                if not tree:
                    del self._by_index[index_id]

    def affected(self, written_keys: dict[int, list[bytes]], out: set[Any]) -> None:
        """Add to ``out`` every owner whose read set contains a written key."""
        by_index = self._by_index
        for index_id, keys in written_keys.items():
            tree = by_index.get(index_id)
            if tree is None:
                continue
            for key in keys:
                tree.stab(key, out)

    def __len__(self) -> int:
        return sum(t.count for t in self._by_index.values())
