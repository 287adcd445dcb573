"""The committer: OCC validation, timestamps, group commit, publication.

``submit`` runs on the event loop and is synchronous up to the point where
the commit has its timestamp and sits in the overlay, so the next mutation
already reads it. A single writer task then takes every commit that is
ready, writes them in one storage transaction (one fsync) on the writer
thread, and only then publishes them: resolves their futures (the
acknowledgement) and tells the listeners (subscriptions, caches) which
index keys changed at which timestamps.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from livebase.database.catalog import Catalog, TableInfo
from livebase.database.errors import CommitFailed, OccConflict
from livebase.database.read_set import ReadSet
from livebase.database.transaction import Overlay, PendingDoc, PreparedCommit, Write
from livebase.persistence.base import CommitRecord, Persistence

log = logging.getLogger("livebase.committer")

# How long published commits stay in memory for validating transactions that
# began before them (and for subscriptions catching up).
LOG_RETENTION_NS = 30 * 1_000_000_000
LOG_MAX_ENTRIES = 200_000


@dataclass(slots=True)
class CommitEntry:
    """A published commit: what subscriptions and validation look at."""

    ts: int
    written_keys: dict[int, list[bytes]]
    writes: list[Write]


@dataclass(slots=True)
class _Pending:
    entry: CommitEntry
    record: CommitRecord
    new_tables: list[TableInfo]
    future: asyncio.Future[int]
    overlay_keys: list[tuple[int, bytes]] = field(default_factory=list)
    on_publish: Callable[[], None] | None = None


Listener = Callable[[list[CommitEntry]], None]


class Committer:
    def __init__(self, persistence: Persistence, catalog: Catalog, latest_ts: int) -> None:
        self.persistence = persistence
        self.catalog = catalog
        self.last_ts = latest_ts  # last timestamp handed out
        self.published_ts = latest_ts  # last durable, published commit
        self.log: deque[CommitEntry] = deque()
        self.log_floor_ts = latest_ts  # validation can't see commits at or before this
        self.pending: deque[_Pending] = deque()
        self.overlay: Overlay = {}
        self.listeners: list[Listener] = []
        self._queue: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="livebase-writer")
        self._idle: asyncio.Event | None = None
        # Whether to write on the event loop instead of the writer thread: the
        # server says yes when this commit's request is the only one running.
        self.write_inline: Callable[[], bool] = lambda: False

    # -- timestamps --------------------------------------------------------------

    def next_ts(self) -> int:
        ts = max(time.time_ns(), self.last_ts + 1)
        self.last_ts = ts
        return ts

    # -- validation --------------------------------------------------------------

    def _check(self, prepared: PreparedCommit) -> None:
        begin = prepared.begin_ts
        if not prepared.read_set.intervals:
            return
        if begin < self.log_floor_ts:
            raise OccConflict(
                "This transaction began too long ago to be validated; it will be retried",
                conflicting_ts=self.log_floor_ts,
                table="",
                index="",
            )
        candidates: list[CommitEntry] = [e for e in reversed(self.log) if e.ts > begin]
        candidates.extend(p.entry for p in self.pending if p.entry.ts > begin)
        for entry in candidates:
            hit = prepared.read_set.first_conflict(entry.written_keys)
            if hit is not None:
                index = self.catalog.indexes_by_id.get(hit[0])
                table = index.table_name if index else "?"
                name = index.name if index else "?"
                raise OccConflict(
                    f'Documents read from or written to the table "{table}" (index "{name}") changed '
                    "while this mutation was being run",
                    conflicting_ts=entry.ts,
                    table=table,
                    index=name,
                )

    # -- submission ---------------------------------------------------------------

    def submit(self, prepared: PreparedCommit) -> asyncio.Future[int]:
        """Validate and enqueue a commit; the future resolves with its
        timestamp once it is durable. Raises ``OccConflict`` right away."""
        self._check(prepared)
        loop = asyncio.get_running_loop()
        ts = self.next_ts()
        entry = CommitEntry(ts, prepared.written_keys, prepared.writes)
        record = CommitRecord(
            ts, prepared.doc_writes, prepared.tables, prepared.indexes, prepared.globals
        )
        pending = _Pending(entry, record, prepared.new_tables, loop.create_future(), on_publish=prepared.on_publish)
        for w in prepared.writes:
            tn = w.table.table_number
            id_key = w.id_key
            by_key = self.overlay.get(tn)
            if by_key is None:
                self.overlay[tn] = {id_key: PendingDoc(w.doc, ts)}
            elif id_key in by_key:
                # Replacing a version another transaction may still need:
                # copy instead (see _drop_overlay).
                by_key = dict(by_key)
                by_key[id_key] = PendingDoc(w.doc, ts)
                self.overlay = {**self.overlay, tn: by_key}
            else:
                by_key[id_key] = PendingDoc(w.doc, ts)
            pending.overlay_keys.append((tn, id_key))
        self.pending.append(pending)
        self._queue.append(pending)
        if self._idle is not None:
            self._idle.clear()
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write_loop())
        return pending.future

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            batch, self._queue = self._queue, []
            records = [p.record for p in batch]
            try:
                if self.write_inline():
                    # Nothing else to do meanwhile: skip the two thread hops.
                    self.persistence.write_batch(records)
                else:
                    await loop.run_in_executor(self._executor, self.persistence.write_batch, records)
            except BaseException as exc:  # every commit must learn its fate
                # Later commits may have read these writes: fail them too.
                failed = batch + self._queue
                self._queue = []
                self._fail(failed, exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            self._publish(batch)
        if self._idle is not None and not self.pending:
            self._idle.set()

    def _drop_overlay(self, done: list[_Pending]) -> None:
        """Remove these commits' versions from the overlay.

        Copy-on-write: a transaction that began while they were pending keeps
        the overlay it started with (its storage snapshot predates them), so
        the dicts it holds are never modified by a removal.
        """
        dropped: dict[int, dict[bytes, int]] = {}
        for p in done:
            for tn, id_key in p.overlay_keys:
                dropped.setdefault(tn, {})[id_key] = p.entry.ts
        if not dropped:
            return
        overlay = dict(self.overlay)
        for tn, keys in dropped.items():
            by_key = overlay.get(tn)
            if by_key is None:
                continue
            kept = {k: v for k, v in by_key.items() if keys.get(k) != v.ts}
            if kept:
                overlay[tn] = kept
            else:
                del overlay[tn]
        self.overlay = overlay

    def _fail(self, failed: list[_Pending], exc: BaseException) -> None:
        log.error("commit batch failed to persist: %s", exc)
        ids = {id(p) for p in failed}
        self.pending = deque(p for p in self.pending if id(p) not in ids)
        self._drop_overlay(failed)
        for p in failed:
            if not p.future.done():
                p.future.set_exception(CommitFailed(f"The commit could not be made durable: {exc}"))

    def _publish(self, batch: list[_Pending]) -> None:
        entries = []
        for p in batch:
            head = self.pending.popleft()
            assert head is p, "commits must be published in timestamp order"
            for t in p.new_tables:
                t.persisted = True
            self.log.append(p.entry)
            self.published_ts = p.entry.ts
            entries.append(p.entry)
            if p.on_publish is not None:
                try:
                    p.on_publish()
                except Exception:
                    log.exception("commit publication hook failed")
        self._drop_overlay(batch)
        self._prune()
        # Acknowledge first: the callers' continuations are queued ahead of
        # the work the listeners start (re-running and pushing subscriptions),
        # so a mutation's own response doesn't wait for its fan-out. The
        # listeners still run before any of those continuations.
        for p in batch:
            if not p.future.done():
                p.future.set_result(p.entry.ts)
        for listener in self.listeners:
            try:
                listener(entries)
            except Exception:
                log.exception("commit listener failed")
        for p in batch:
            # Listeners had the documents; the log keeps only the keys, and
            # fewer live objects keep garbage collection pauses short.
            p.entry.writes = []

    def prune(self) -> None:
        """Forget commits older than the retention (also called on a timer,
        so a burst of commits doesn't stay in memory until the next one)."""
        self._prune()

    def _prune(self) -> None:
        log_ = self.log
        horizon = time.time_ns() - LOG_RETENTION_NS
        while log_ and (log_[0].ts < horizon or len(log_) > LOG_MAX_ENTRIES):
            self.log_floor_ts = log_.popleft().ts

    def record_external(self, ts: int) -> None:
        """A write made outside the commit path (a deploy) at ``ts``."""
        self.last_ts = max(self.last_ts, ts)
        self.published_ts = max(self.published_ts, ts)
        # Conservatively invalidate validation across it.
        self.log_floor_ts = max(self.log_floor_ts, ts)

    async def wait_idle(self) -> None:
        """Until every submitted commit is durable (or failed)."""
        if not self.pending:
            return
        if self._idle is None:
            self._idle = asyncio.Event()
        self._idle.clear()
        while self.pending:
            await self._idle.wait()
            if self.pending:
                self._idle.clear()

    def changed_between(self, read_set: ReadSet, after_ts: int, until_ts: int) -> bool:
        """Whether a commit in ``(after_ts, until_ts]`` wrote into ``read_set``
        (True when that window is no longer known)."""
        if after_ts >= until_ts:
            return False
        if after_ts < self.log_floor_ts:
            return True
        entries = [e for e in self.log if after_ts < e.ts <= until_ts]
        entries.extend(p.entry for p in self.pending if after_ts < p.entry.ts <= until_ts)
        return any(read_set.first_conflict(e.written_keys) is not None for e in entries)

    async def wait_published(self, ts: int) -> None:
        """Until every commit up to ``ts`` is durable; raises ``CommitFailed``
        if one of them failed."""
        if self.published_ts >= ts:
            return
        target = None
        for p in reversed(self.pending):
            if p.entry.ts <= ts:
                target = p
                break
        if target is not None:
            await asyncio.shield(target.future)

    async def run_in_writer(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=True)

