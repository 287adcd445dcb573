"""Stabbing queries over key intervals: which intervals contain a key?

Point intervals (``[k, k + b"\\x00")``, what ``db.get`` reads) live in a dict;
ranges live in a treap ordered by ``(start, end)`` where every node knows
the largest ``end`` in its subtree, so a stab visits O(log n + hits) nodes
instead of every registered interval.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from typing import Any

INF = b"\xff" * 9  # above every encoded key (type tags are all < 0xff)

_rand = random.Random(0x11FEBA5E).random


class _Node:
    __slots__ = ("end", "left", "max_end", "owners", "prio", "right", "start")

    def __init__(self, start: bytes, end: bytes, owner: Hashable) -> None:
        self.start = start
        self.end = end
        self.owners: set[Any] = {owner}
        self.prio = _rand()
        self.left: _Node | None = None
        self.right: _Node | None = None
        self.max_end = end


def _fix(node: _Node) -> None:
    m = node.end
    left, right = node.left, node.right
    if left is not None and left.max_end > m:
        m = left.max_end
    if right is not None and right.max_end > m:
        m = right.max_end
    node.max_end = m


def _rotate_right(node: _Node) -> _Node:
    pivot = node.left
    assert pivot is not None
    node.left = pivot.right
    pivot.right = node
    _fix(node)
    _fix(pivot)
    return pivot


def _rotate_left(node: _Node) -> _Node:
    pivot = node.right
    assert pivot is not None
    node.right = pivot.left
    pivot.left = node
    _fix(node)
    _fix(pivot)
    return pivot


def _insert(node: _Node | None, start: bytes, end: bytes, owner: Hashable) -> _Node:
    if node is None:
        return _Node(start, end, owner)
    if start == node.start and end == node.end:
        node.owners.add(owner)
        return node
    if (start, end) < (node.start, node.end):
        node.left = _insert(node.left, start, end, owner)
        if node.left.prio > node.prio:
            return _rotate_right(node)
    else:
        node.right = _insert(node.right, start, end, owner)
        if node.right.prio > node.prio:
            return _rotate_left(node)
    _fix(node)
    return node


def _delete_node(node: _Node) -> _Node | None:
    """Remove ``node`` itself from its subtree (rotating it down to a leaf)."""
    left, right = node.left, node.right
    if left is None:
        return right
    if right is None:
        return left
    if left.prio > right.prio:
        top = _rotate_right(node)
        top.right = _delete_node(node)
    else:
        top = _rotate_left(node)
        top.left = _delete_node(node)
    _fix(top)
    return top


def _remove(node: _Node | None, start: bytes, end: bytes, owner: Hashable) -> _Node | None:
    if node is None:
        return None
    if start == node.start and end == node.end:
        node.owners.discard(owner)
        if not node.owners:
            return _delete_node(node)
        return node
    if (start, end) < (node.start, node.end):
        node.left = _remove(node.left, start, end, owner)
    else:
        node.right = _remove(node.right, start, end, owner)
    _fix(node)
    return node


def _stab(node: _Node | None, key: bytes, out: set[Any]) -> None:
    while node is not None:
        if node.max_end <= key:
            return
        if node.left is not None:
            _stab(node.left, key, out)
        if node.start > key:
            return
        if key < node.end:
            out |= node.owners
        node = node.right


class IntervalIndex:
    """Owners registered on ``[start, end)`` intervals of one index."""

    __slots__ = ("_points", "_root", "count")

    def __init__(self) -> None:
        self._root: _Node | None = None
        self._points: dict[bytes, set[Any]] = {}
        self.count = 0

    @staticmethod
    def _is_point(start: bytes, end: bytes) -> bool:
        return len(end) == len(start) + 1 and end[-1] == 0 and end.startswith(start)

    def add(self, start: bytes, end: bytes | None, owner: Hashable) -> None:
        end = INF if end is None else end
        self.count += 1
        if self._is_point(start, end):
            self._points.setdefault(start, set()).add(owner)
        else:
            self._root = _insert(self._root, start, end, owner)

    def remove(self, start: bytes, end: bytes | None, owner: Hashable) -> None:
        end = INF if end is None else end
        self.count -= 1
        if self._is_point(start, end):
            owners = self._points.get(start)
            if owners is not None:
                owners.discard(owner)
                if not owners:
                    del self._points[start]
        else:
            self._root = _remove(self._root, start, end, owner)

    def stab(self, key: bytes, out: set[Any]) -> None:
        """Add to ``out`` every owner of an interval containing ``key``."""
        owners = self._points.get(key)
        if owners:
            out |= owners
        if self._root is not None:
            _stab(self._root, key, out)

    def __bool__(self) -> bool:
        return self.count > 0
