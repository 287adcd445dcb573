"""Where file contents live: the ``BlobStore`` interface and a local-folder store.

Blobs are addressed by content: a blob's key is the hex SHA-256 of its
bytes, so the ``_storage`` document (``{sha256, size, contentType?}``, the
shape Convex uses) names its blob without extra fields, and identical
uploads share one blob. Writing is two-phase so that an upload can be
streamed and hashed before its key is known:

    staged = await store.stage(chunks)   # temp object, hashed while written
    info = await store.commit(staged)    # moved into place under its key
    # or: await store.discard(staged)

An S3-compatible store fits the same shape: ``stage`` is a multipart upload
to a temporary key, ``commit`` a server-side copy to the content key.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Bytes handed to a worker thread at once: big enough that the thread hop
# (~100 µs) is noise, small enough that an upload holds little memory.
WRITE_BATCH = 1 << 20
READ_CHUNK = 256 << 10
# Temporary files older than this are leftovers of a crash.
STALE_TEMP_SECONDS = 24 * 3600


@dataclass(frozen=True)
class BlobInfo:
    key: str  # == sha256
    size: int
    sha256: str  # lowercase hex


@dataclass
class StagedBlob:
    """Bytes written and hashed, not yet visible under their key."""

    size: int
    sha256: str
    handle: Any  # store-specific (a temp path, an upload id...)


class BlobReader(ABC):
    """An open blob: ``size`` and byte ranges, streamed in chunks."""

    size: int

    @abstractmethod
    def iter_range(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes ``[start, end)`` (``end`` None: to the end); closes the reader when done."""

    @abstractmethod
    async def close(self) -> None: ...


class BlobStore(ABC):
    @abstractmethod
    async def stage(self, chunks: AsyncIterable[bytes]) -> StagedBlob:
        """Consume ``chunks`` into a temporary object, hashing on the way."""

    @abstractmethod
    async def commit(self, staged: StagedBlob) -> BlobInfo:
        """Make a staged blob readable under its key (its sha256)."""

    @abstractmethod
    async def discard(self, staged: StagedBlob) -> None: ...

    @abstractmethod
    async def open(self, key: str) -> BlobReader | None:
        """The blob under ``key``, or None. An open blob stays readable even
        if it is deleted meanwhile."""

    @abstractmethod
    async def delete(self, key: str) -> bool:
        """Remove a blob; False if there was none."""

    @abstractmethod
    def keys(self, older_than: float) -> AsyncIterator[str]:
        """Keys of blobs last written before ``older_than`` (epoch seconds),
        for sweeping blobs no document refers to."""

    async def put(self, chunks: AsyncIterable[bytes]) -> BlobInfo:
        """Store a stream of bytes; its key, size and sha256."""
        return await self.commit(await self.stage(chunks))


def _is_key(key: str) -> bool:
    return len(key) == 64 and all(c in "0123456789abcdef" for c in key)


class _LocalReader(BlobReader):
    def __init__(self, file: Any, size: int) -> None:
        self._file = file
        self.size = size

    async def iter_range(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        end = self.size if end is None else min(end, self.size)
        f = self._file
        try:
            remaining = end - start
            if remaining <= 0:
                return

            def read(n: int, offset: int) -> bytes:
                return os.pread(f.fileno(), n, offset)

            offset = start
            while remaining > 0:
                data = await asyncio.to_thread(read, min(READ_CHUNK, remaining), offset)
                if not data:
                    return  # truncated underneath us; the length header was a promise we can't keep
                offset += len(data)
                remaining -= len(data)
                yield data
        finally:
            await self.close()

    async def close(self) -> None:
        self._file.close()


class LocalBlobStore(BlobStore):
    """Blobs as files: ``ROOT/ab/abcdef…`` (first two hex digits as a folder),
    temporary files in ``ROOT/tmp``. Renames within one filesystem are atomic,
    so a key never names a partly written file."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._tmp = self.root / "tmp"
        self._swept = False

    def path_of(self, key: str) -> Path:
        if not _is_key(key):
            raise ValueError(f"not a blob key: {key!r}")
        return self.root / key[:2] / key

    def _sweep_temp(self) -> None:
        """Remove temp files a crashed process left (only old ones: another
        process, e.g. ``livebase run``, may be uploading right now)."""
        self._swept = True
        horizon = time.time() - STALE_TEMP_SECONDS
        with contextlib.suppress(OSError):
            for p in self._tmp.iterdir():
                with contextlib.suppress(OSError):
                    if p.stat().st_mtime < horizon:
                        p.unlink()

    async def stage(self, chunks: AsyncIterable[bytes]) -> StagedBlob:
        self._tmp.mkdir(parents=True, exist_ok=True)
        if not self._swept:
            await asyncio.to_thread(self._sweep_temp)
        path = self._tmp / f"{secrets.token_hex(12)}.part"
        digest = hashlib.sha256()
        size = 0
        f = open(path, "wb")  # noqa: SIM115 - closed below, across awaits

        def write(data: bytes) -> None:
            # hashlib releases the GIL for large buffers: hashing runs in parallel with the loop.
            digest.update(data)
            f.write(data)

        try:
            batch: list[bytes] = []
            pending = 0
            async for chunk in chunks:
                if not chunk:
                    continue
                if not isinstance(chunk, bytes | bytearray | memoryview):
                    raise TypeError(
                        f"file contents must be bytes, got a chunk of type {type(chunk).__name__}"
                    )
                batch.append(bytes(chunk))
                pending += len(chunk)
                size += len(chunk)
                if pending >= WRITE_BATCH:
                    data, batch, pending = b"".join(batch), [], 0
                    await asyncio.to_thread(write, data)
            if batch:
                await asyncio.to_thread(write, b"".join(batch))
            await asyncio.to_thread(_flush_and_sync, f)
        except BaseException:
            f.close()
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        f.close()
        return StagedBlob(size, digest.hexdigest(), path)

    async def commit(self, staged: StagedBlob) -> BlobInfo:
        final = self.path_of(staged.sha256)
        temp: Path = staged.handle

        def move() -> None:
            try:
                # Same bytes already stored (the key is their hash)? Touch
                # them so that a sweep sees the blob as new, and drop ours.
                os.utime(final)
            except FileNotFoundError:
                pass
            else:
                temp.unlink(missing_ok=True)
                return
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, final)
            _sync_dir(final.parent)

        await asyncio.to_thread(move)
        return BlobInfo(staged.sha256, staged.size, staged.sha256)

    async def discard(self, staged: StagedBlob) -> None:
        with contextlib.suppress(OSError):
            Path(staged.handle).unlink()

    async def open(self, key: str) -> BlobReader | None:
        if not _is_key(key):
            return None
        try:
            f = open(self.path_of(key), "rb")  # noqa: SIM115 - the reader closes it
        except FileNotFoundError:
            return None
        return _LocalReader(f, os.fstat(f.fileno()).st_size)

    async def delete(self, key: str) -> bool:
        try:
            self.path_of(key).unlink()
        except FileNotFoundError:
            return False
        return True

    async def keys(self, older_than: float) -> AsyncIterator[str]:
        def listing() -> list[str]:
            found = []
            with contextlib.suppress(OSError):
                for folder in self.root.iterdir():
                    if len(folder.name) != 2 or not folder.is_dir():
                        continue
                    for p in folder.iterdir():
                        with contextlib.suppress(OSError):
                            if _is_key(p.name) and p.stat().st_mtime < older_than:
                                found.append(p.name)
            return found

        for key in await asyncio.to_thread(listing):
            yield key


def _flush_and_sync(f: Any) -> None:
    # An acknowledged upload must survive a power cut, like a commit does.
    f.flush()
    os.fsync(f.fileno())


def _sync_dir(path: Path) -> None:
    # The rename itself must be durable before the document naming the blob commits.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
