"""Query instances and the query cache.

A ``QueryInstance`` is one query (path, arguments, and the caller's
identity if the query read it) with its latest result, the timestamp it is
valid from, and its read set registered in the subscription index. Every
client subscribed to the same query shares one instance: one re-run per
commit, its encoded result spliced into every client's Transition.

Instances nobody subscribes to stay cached (LRU, bounded by result bytes)
and answer HTTP queries and new subscriptions until a commit touches their
read set, which evicts them.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import orjson

from livebase.auth.identity import Identity
from livebase.database.read_set import ReadSet
from livebase.functions.runner import Outcome
from livebase.sync.protocol import dumps
from livebase.sync.subscription_index import SubscriptionIndex
from livebase.values.wire import to_json

if TYPE_CHECKING:
    from livebase.sync.session import Session

# Results that read the clock are reused for at most this long.
TIME_DEPENDENT_TTL_S = 1.0
DEFAULT_CACHE_BYTES = 64 << 20

CacheKey = tuple[str, bytes, str | None]


def args_key(args: dict[str, Any], journal: str | None = None) -> bytes:
    """The arguments part of a cache key (with the query journal, if any:
    a journaled re-run may legitimately differ from a fresh run)."""
    key = orjson.dumps(to_json(args), option=orjson.OPT_SORT_KEYS)
    if journal is not None:
        return key + b"\x00" + journal.encode()
    # orjson's result can keep a ~4 KB buffer behind a short key; the key
    # lives as long as its cache entry, so keep an exact-size copy.
    return bytes(memoryview(key))


class QueryInstance:
    __slots__ = (
        "__weakref__",
        "_tail",
        "args",
        "dirty_ts",
        "error_data",
        "error_message",
        "expires_at",
        "generation",
        "handles",
        "has_error_data",
        "identity",
        "journal",
        "key",
        "log_lines",
        "path",
        "plain",
        "read_set",
        "reads_identity",
        "size",
        "subscribers",
        "ts",
        "value",
    )

    def __init__(
        self, key: CacheKey, path: str, args: dict[str, Any], identity: Identity | None, journal: str | None = None
    ) -> None:
        self.key = key
        self.journal = journal
        self.path = path
        self.args = args
        self.identity = identity
        self.subscribers: dict[Session, set[int]] = {}
        self.ts = -1  # never run
        self.dirty_ts = 0  # newest commit that invalidated it
        # The Transition modification after "queryId":N, encoded on first use
        # (a result cached for HTTP may never be sent over a socket).
        self._tail: str | None = ""
        self.value: Any = None
        self.error_message: str | None = None
        self.error_data: Any = None
        self.has_error_data = False
        self.log_lines: list[str] = []
        self.handles: list[tuple[int, bytes, bytes | None]] = []
        self.read_set: ReadSet | None = None
        self.plain = False
        self.reads_identity = False
        self.expires_at = 0.0
        self.size = 0
        self.generation = -1

    @property
    def has_result(self) -> bool:
        return self.ts >= 0

    @property
    def is_dirty(self) -> bool:
        return self.dirty_ts > self.ts

    def valid_now(self, generation: int) -> bool:
        return (
            self.has_result
            and not self.is_dirty
            and self.generation == generation
            and (self.expires_at == 0.0 or time.monotonic() < self.expires_at)
        )

    def _encode_tail(self) -> str:
        if self.error_message is None:
            return (
                '"QueryUpdated","queryId":{qid},"value":'
                + dumps(to_json(self.value))
                + ',"logLines":'
                + dumps(self.log_lines)
                + ',"journal":'
                + dumps(self.journal)
                + "}"
            )
        data = ',"errorData":' + dumps(to_json(self.error_data)) if self.has_error_data else ""
        return (
            '"QueryFailed","queryId":{qid},"errorMessage":'
            + dumps(self.error_message)
            + ',"logLines":'
            + dumps(self.log_lines)
            + ',"journal":'
            + dumps(self.journal)
            + data
            + "}"
        )

    @property
    def tail(self) -> str:
        if self._tail is None:
            self._tail = self._encode_tail()
        return self._tail

    def set_result(self, outcome: Outcome, generation: int, *, encode: bool = True) -> bool:
        """Store a run's outcome; returns whether the client-visible result
        changed (always True with ``encode=False``, which defers encoding)."""
        old_tail = self._tail if encode else None
        self.ts = outcome.ts
        self.value = outcome.value
        self.error_message = outcome.error
        self.has_error_data = outcome.has_error_data
        self.error_data = outcome.error_data if outcome.has_error_data else None
        self.log_lines = outcome.log_lines
        if outcome.journal is not None:
            self.journal = outcome.journal
        self.read_set = outcome.read_set
        self.plain = outcome.plain
        self.reads_identity = outcome.reads_identity
        self.expires_at = time.monotonic() + TIME_DEPENDENT_TTL_S if outcome.reads_time else 0.0
        self.generation = generation
        if not encode:
            self._tail = None
            self.size = self._footprint(outcome.size)
            return True
        tail = self._encode_tail()
        self._tail = tail
        self.size = self._footprint(len(tail))
        return tail != old_tail

    def _footprint(self, result_bytes: int) -> int:
        """What the entry really costs in memory (for the cache's budget):
        the result as Python objects (about three times its encoded size),
        the encoded form, the read set registered in the subscription
        index, and the fixed cost of the instance itself."""
        intervals = sum(len(v) for v in self.read_set.intervals.values()) if self.read_set else 0
        return 4 * result_bytes + 300 * intervals + 3000

    def modification(self, query_id: int) -> str:
        # The tail holds "{qid}" once; str.replace is cheaper than format here.
        return '{"type":' + self.tail.replace("{qid}", str(query_id), 1)

    def outcome(self, request_id: str) -> Outcome:
        o = Outcome(request_id, self.path, "query")
        o.ts = self.ts
        o.read_set = self.read_set
        o.plain = self.plain
        o.reads_identity = self.reads_identity
        o.log_lines = self.log_lines
        if self.error_message is None:
            o.value = self.value
        else:
            o.error = self.error_message
            if self.has_error_data:
                o.error_data = self.error_data
        return o


class QueryCache:
    """Every live or cached instance, by key; LRU over unsubscribed ones."""

    def __init__(self, index: SubscriptionIndex, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.index = index
        self.instances: dict[CacheKey, QueryInstance] = {}
        self._idle: OrderedDict[QueryInstance, None] = OrderedDict()
        self._idle_bytes = 0
        self.max_bytes = max_bytes

    @staticmethod
    def keys(path: str, akey: bytes, identity: Identity | None) -> tuple[CacheKey, CacheKey]:
        return (path, akey, None), (path, akey, identity.cache_key if identity else "anonymous")

    def find(self, path: str, akey: bytes, identity: Identity | None) -> QueryInstance | None:
        shared, specific = self.keys(path, akey, identity)
        inst = self.instances.get(shared)
        if inst is not None and not inst.reads_identity:
            return inst
        return self.instances.get(specific)

    def create(
        self, path: str, args: dict[str, Any], akey: bytes, identity: Identity | None, journal: str | None = None
    ) -> QueryInstance:
        _, specific = self.keys(path, akey, identity)
        old = self.instances.get(specific)
        if old is not None:
            self.drop(old)
        inst = QueryInstance(specific, path, args, identity, journal)
        self.instances[specific] = inst
        return inst

    def rekey_journal(self, inst: QueryInstance, journal: str | None) -> None:
        """A run produced a new journal: later runs repeat it, and a fresh
        subscriber (without that journal) must not share them."""
        inst.journal = journal
        path, _akey, who = inst.key
        new_key = (path, args_key(inst.args, journal), who)
        if self.instances.get(inst.key) is inst:
            del self.instances[inst.key]
        inst.key = new_key
        if new_key not in self.instances:
            self.instances[new_key] = inst

    def after_run(self, inst: QueryInstance) -> None:
        """Re-key an instance as shared once a run shows it ignores identity."""
        shared = (inst.key[0], inst.key[1], None)
        if not inst.reads_identity and inst.key != shared and shared not in self.instances:
            del self.instances[inst.key]
            inst.key = shared
            self.instances[shared] = inst

    def register(self, inst: QueryInstance, outcome: Outcome) -> None:
        if inst.handles:
            self.index.unregister(inst, inst.handles)
            inst.handles = []
        if outcome.read_set is not None:
            inst.handles = self.index.register(inst, outcome.read_set)

    def touch_idle(self, inst: QueryInstance) -> None:
        """``inst`` has no subscribers any more: keep it while space allows."""
        if inst in self._idle:
            self._idle.move_to_end(inst)
            return
        self._idle[inst] = None
        self._idle_bytes += inst.size
        while self._idle_bytes > self.max_bytes and self._idle:
            victim, _ = self._idle.popitem(last=False)
            self._idle_bytes -= victim.size
            self._forget(victim)

    def unidle(self, inst: QueryInstance) -> None:
        if inst in self._idle:
            del self._idle[inst]
            self._idle_bytes -= inst.size

    def drop(self, inst: QueryInstance) -> None:
        self.unidle(inst)
        self._forget(inst)

    def _forget(self, inst: QueryInstance) -> None:
        if self.instances.get(inst.key) is inst:
            del self.instances[inst.key]
        if inst.handles:
            self.index.unregister(inst, inst.handles)
            inst.handles = []

    def clear(self) -> None:
        for inst in list(self.instances.values()):
            if not inst.subscribers:
                self.drop(inst)

    def __len__(self) -> int:
        return len(self.instances)
