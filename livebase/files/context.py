"""``ctx.storage`` for queries, mutations and actions.

Queries and mutations read ``_storage`` documents through their own
transaction, so ``get_url`` is reactive and a mutation's ``delete`` is part
of its commit (the blob is removed after the commit is durable). Actions
run outside transactions: each method is a coroutine with its own
transaction, like ``ctx.run_mutation``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from livebase.database.transaction import Transaction
from livebase.files.blobstore import BlobReader
from livebase.files.storage import FileStorage, iterate_bytes
from livebase.files.tokens import UPLOAD_TOKEN_TTL_S


def _metadata(doc: dict[str, Any]) -> dict[str, Any]:
    # Convex's FileMetadata shape (deprecated there in favour of db.system.get).
    return {
        "storageId": doc["_id"],
        "sha256": doc["sha256"],
        "size": doc["size"],
        "contentType": doc.get("contentType"),
    }


class StorageReader:
    """``ctx.storage`` in queries."""

    __slots__ = ("_files", "_txn")

    def __init__(self, files: FileStorage, txn: Transaction) -> None:
        self._files = files
        self._txn = txn

    def normalize_id(self, value: str) -> str | None:
        """``value`` if it is a storage id (an ``Id<"_storage">``), else None."""
        return value if isinstance(value, str) and self._files.is_storage_id(value) else None

    def get_url(self, storage_id: str) -> str | None:
        """A URL that serves the file (``GET``), or None if there is no such file."""
        self._files.check_id(storage_id, "get_url")
        if self._files.document_in(self._txn, storage_id) is None:
            return None
        return self._files.url_for(storage_id)

    def get_metadata(self, storage_id: str) -> dict[str, Any] | None:
        """``{storageId, sha256, size, contentType}`` or None. (``ctx.db.system.get(id)``
        gives the ``_storage`` document itself.)"""
        self._files.check_id(storage_id, "get_metadata")
        doc = self._files.document_in(self._txn, storage_id)
        return None if doc is None else _metadata(doc)


class StorageWriter(StorageReader):
    """``ctx.storage`` in mutations."""

    __slots__ = ()

    def generate_upload_url(self, *, expires_in: float = UPLOAD_TOKEN_TTL_S) -> str:
        """A URL to ``POST`` a file's bytes to (with its ``Content-Type``); the
        answer is ``{"storageId": ...}``. Valid for ``expires_in`` seconds (at most an hour)."""
        return self._files.upload_url(expires_in)

    def delete(self, storage_id: str) -> None:
        """Delete a file when this mutation commits."""
        self._files.check_id(storage_id, "delete")
        self._files.delete_in(self._txn, storage_id)


class StoredFile:
    """An open stored file, streamed: ``async for chunk in f`` (once), or
    ``await f.read()``. Iterating to the end closes it; otherwise call
    ``await f.close()`` (or use ``async with``)."""

    def __init__(self, doc: dict[str, Any], reader: BlobReader) -> None:
        self.storage_id: str = doc["_id"]
        self.sha256: str = doc["sha256"]
        self.size: int = doc["size"]
        self.content_type: str | None = doc.get("contentType")
        self._reader = reader

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._reader.iter_range(0, None)

    def iter_range(self, start: int, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes ``[start, end)``."""
        return self._reader.iter_range(start, end)

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self._reader.iter_range(0, None)])

    async def close(self) -> None:
        await self._reader.close()

    async def __aenter__(self) -> StoredFile:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class ActionStorage:
    """``ctx.storage`` in actions and HTTP actions (every method but
    ``normalize_id`` is a coroutine)."""

    __slots__ = ("_files",)

    def __init__(self, files: FileStorage) -> None:
        self._files = files

    def normalize_id(self, value: str) -> str | None:
        """``value`` if it is a storage id, else None (not a coroutine: no I/O)."""
        return value if isinstance(value, str) and self._files.is_storage_id(value) else None

    async def get_url(self, storage_id: str) -> str | None:
        self._files.check_id(storage_id, "get_url")
        return None if self._files.document(storage_id) is None else self._files.url_for(storage_id)

    async def get_metadata(self, storage_id: str) -> dict[str, Any] | None:
        self._files.check_id(storage_id, "get_metadata")
        doc = self._files.document(storage_id)
        return None if doc is None else _metadata(doc)

    async def generate_upload_url(self, *, expires_in: float = UPLOAD_TOKEN_TTL_S) -> str:
        return self._files.upload_url(expires_in)

    async def store(self, data: Any, content_type: str | None = None) -> str:
        """Store a new file from bytes, a binary file object, or an (async)
        iterable of byte chunks (streamed, never held whole); its storage id."""
        return await self._files.store(iterate_bytes(data), content_type)

    async def get(self, storage_id: str) -> bytes | None:
        """The whole file in memory, or None. For big files use ``open``."""
        f = await self.open(storage_id)
        return None if f is None else await f.read()

    async def open(self, storage_id: str) -> StoredFile | None:
        """The file for streaming (``async for chunk in f``), or None."""
        self._files.check_id(storage_id, "open")
        found = await self._files.open(storage_id)
        return None if found is None else StoredFile(*found)

    async def delete(self, storage_id: str) -> None:
        """Delete the file (its own transaction; raises if there is none)."""
        self._files.check_id(storage_id, "delete")
        await self._files.delete(storage_id)
