"""The deployment's file storage: blobs plus their ``_storage`` documents.

A file is a ``_storage`` document ``{sha256, size, contentType?}`` whose
``_id`` is the storage id, and a blob keyed by that sha256. Uploads stream
into the blob store first, then insert the document; deleting a document
(from a mutation, an action or anywhere else) removes the blob once the
deletion is durable and no other document has the same content. A lock
and a set of "pinned" hashes keep an upload of some content and the
removal of the last older copy of it from racing each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator
from typing import TYPE_CHECKING, Any

from livebase.database.catalog import STORAGE
from livebase.database.query import Query
from livebase.database.transaction import Transaction
from livebase.errors import LivebaseError
from livebase.files.blobstore import BlobReader, BlobStore, StagedBlob
from livebase.files.tokens import UPLOAD_TOKEN_TTL_S, make_upload_token
from livebase.values.ids import decode_id

if TYPE_CHECKING:
    from livebase.database.committer import CommitEntry

log = logging.getLogger("livebase.files")

BY_SHA256 = "by_sha256"
MAX_CONTENT_TYPE = 1024
# Blobs younger than this are never swept: their document may still be on its way.
SWEEP_MIN_AGE_S = 3600
SWEEP_DELAY_S = 60


class StorageError(LivebaseError):
    code = "InvalidStorageId"


class FileStorage:
    def __init__(self, app: Any, blobs: BlobStore) -> None:
        self.app = app
        self.db = app.db
        self.blobs = blobs
        self._lock = asyncio.Lock()
        self._pins: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sweep_scheduled = False
        self.db.committer.listeners.append(self._on_commits)

    # -- ids and URLs -------------------------------------------------------------

    @property
    def table_number(self) -> int:
        number = self.db.catalog.table_number(STORAGE)
        assert number is not None
        return number

    def check_id(self, storage_id: Any, op: str) -> str:
        """``storage_id`` if it is an id of the ``_storage`` table, else ``StorageError``."""
        if not isinstance(storage_id, str):
            raise StorageError(
                f"storage.{op}() needs a storage id string, got {type(storage_id).__name__}"
            )
        decoded = decode_id(storage_id)
        if decoded is None or decoded.table_number != self.table_number:
            raise StorageError(
                f'storage.{op}(): {storage_id[:60]!r} is not a storage id (an Id<"_storage"> such as '
                "the storageId an upload returns)"
            )
        return storage_id

    def is_storage_id(self, value: str) -> bool:
        decoded = decode_id(value)
        return decoded is not None and decoded.table_number == self.table_number

    def url_for(self, storage_id: str) -> str:
        return f"{self.app.config.url}/api/storage/{storage_id}"

    def upload_url(self, expires_in: float = UPLOAD_TOKEN_TTL_S) -> str:
        if not isinstance(expires_in, int | float) or not 0 < expires_in <= UPLOAD_TOKEN_TTL_S:
            raise StorageError(
                f"generate_upload_url(expires_in=...) must be between 0 and {UPLOAD_TOKEN_TTL_S} seconds, got {expires_in!r}",
                code="InvalidArgument",
            )
        token = make_upload_token(self.app.instance_secret, ttl_s=expires_in)
        return f"{self.app.config.url}/api/storage/upload?token={token}"

    # -- reading ------------------------------------------------------------------

    @staticmethod
    def document_in(txn: Transaction, storage_id: str) -> dict[str, Any] | None:
        """The ``_storage`` document, read (and recorded) in ``txn``."""
        return txn.get(storage_id, system=True)

    def document(self, storage_id: str) -> dict[str, Any] | None:
        """The ``_storage`` document at the latest durable snapshot."""
        txn = self.db.begin_read()
        try:
            return txn.get(storage_id, system=True)
        finally:
            txn.close()

    async def open(self, storage_id: str) -> tuple[dict[str, Any], BlobReader] | None:
        doc = self.document(storage_id)
        if doc is None:
            return None
        reader = await self.blobs.open(doc["sha256"])
        if reader is None:
            log.warning("file %s (sha256 %s) has a document but no blob", storage_id, doc["sha256"])
            return None
        return doc, reader

    # -- writing ------------------------------------------------------------------

    async def store(self, chunks: AsyncIterable[bytes], content_type: str | None) -> str:
        """Stream bytes into a new file; its storage id."""
        content_type = check_content_type(content_type)
        staged = await self.blobs.stage(chunks)
        return await self.add(staged, content_type)

    async def add(self, staged: StagedBlob, content_type: str | None) -> str:
        """Make a staged blob a file: commit the blob, then insert its document."""
        async with self._lock:
            try:
                info = await self.blobs.commit(staged)
            except BaseException:
                await self.blobs.discard(staged)
                raise
            self._pins[info.sha256] += 1
        body: dict[str, Any] = {"sha256": info.sha256, "size": info.size}
        if content_type is not None:
            body["contentType"] = content_type
        ok = False
        try:
            storage_id, _ts = await self.db.run_in_transaction(
                lambda txn: txn.system_insert(STORAGE, body)
            )
            ok = True
        finally:
            self._pins[info.sha256] -= 1
            if not self._pins[info.sha256]:
                del self._pins[info.sha256]
            if not ok:
                self._spawn(self._collect(info.sha256))
        return storage_id

    @staticmethod
    def delete_in(txn: Transaction, storage_id: str) -> None:
        """Delete a file's document in ``txn``; the blob goes after the commit."""
        if txn.get(storage_id, system=True) is None:
            raise StorageError(
                f"storage.delete(): there is no file with storage id {storage_id!r}",
                code="FileNotFound",
            )
        txn.delete(storage_id, system=True)

    async def delete(self, storage_id: str) -> None:
        await self.db.run_in_transaction(lambda txn: self.delete_in(txn, storage_id))

    # -- removing blobs -------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_commits(self, entries: list[CommitEntry]) -> None:
        """Commit listener: blobs of deleted ``_storage`` documents may go now."""
        number = self.table_number
        for entry in entries:
            for w in entry.writes:
                if w.table.table_number == number and w.doc is None and w.base is not None:
                    sha = w.base.get("sha256")
                    if isinstance(sha, str):
                        self._spawn(self._collect(sha))
        if not self._sweep_scheduled:
            self._sweep_scheduled = True
            self._spawn(self._sweep_later())

    def _referenced(self, sha: str) -> bool:
        txn = self.db.begin_read()
        try:
            table = txn.table_for_read(STORAGE, system=True)
            query = Query(txn, table)
            if BY_SHA256 in table.indexes:
                return (
                    query.with_index(BY_SHA256, lambda q: q.eq("sha256", sha)).first() is not None
                )
            # A database made before the index existed: scan.
            return query.filter(lambda q: q.eq(q.field("sha256"), sha)).first() is not None
        finally:
            txn.close()

    async def _collect(self, sha: str) -> None:
        try:
            async with self._lock:
                if self._pins[sha] or self._referenced(sha):
                    return
                await self.blobs.delete(sha)
        except Exception:
            log.exception("could not remove blob %s", sha)

    async def _sweep_later(self) -> None:
        await asyncio.sleep(SWEEP_DELAY_S)
        await self.sweep()

    async def sweep(self, min_age_s: float = SWEEP_MIN_AGE_S) -> int:
        """Remove blobs that no document refers to (left by a crash between
        an upload's blob and its document, or a deletion and its blob).
        Returns how many were removed."""
        removed = 0
        horizon = time.time() - min_age_s
        try:
            async for key in self.blobs.keys(older_than=horizon):
                async with self._lock:
                    if self._pins[key] or self._referenced(key):
                        continue
                    if await self.blobs.delete(key):
                        removed += 1
        except Exception:
            log.exception("sweeping unreferenced blobs failed")
        if removed:
            log.info("removed %d unreferenced blob(s)", removed)
        return removed

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task


def check_content_type(content_type: Any) -> str | None:
    if content_type is None:
        return None
    if not isinstance(content_type, str):
        raise StorageError(
            f"content_type must be a string, got {type(content_type).__name__}",
            code="InvalidArgument",
        )
    content_type = content_type.strip()
    if not content_type:
        return None
    if (
        len(content_type) > MAX_CONTENT_TYPE
        or not content_type.isprintable()
        or not content_type.isascii()
    ):
        raise StorageError(
            f"content_type must be printable ASCII of at most {MAX_CONTENT_TYPE} characters",
            code="InvalidArgument",
        )
    return content_type


async def iterate_bytes(data: Any, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
    """Chunks of ``data``: bytes-like, a binary file object (sync or async
    ``read``), an async iterable or an iterable of bytes."""
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data).cast("B")
        for i in range(0, len(view), chunk_size):
            yield bytes(view[i : i + chunk_size])
        return
    if isinstance(data, str):
        raise TypeError(
            "storage.store() takes bytes, not str; encode the text first (text.encode())"
        )
    read = getattr(data, "read", None)
    if callable(read):
        is_async = inspect.iscoroutinefunction(read)
        while True:
            if is_async:
                chunk = await read(chunk_size)
            else:
                # A blocking file object: read it off the event loop.
                chunk = await asyncio.to_thread(read, chunk_size)
                if inspect.isawaitable(chunk):
                    chunk = await chunk
            if not chunk:
                return
            if isinstance(chunk, str):
                raise TypeError(
                    "storage.store() needs a file opened in binary mode ('rb'), got text"
                )
            yield chunk
    if hasattr(data, "__aiter__"):
        async for chunk in data:
            yield chunk
        return
    if hasattr(data, "__iter__"):
        for chunk in data:
            yield chunk
        return
    raise TypeError(
        f"storage.store() takes bytes, a binary file, or an (async) iterable of bytes, got {type(data).__name__}"
    )
