"""File storage: blob stores, the ``_storage`` table and ``ctx.storage``."""

from livebase.files.blobstore import BlobInfo, BlobReader, BlobStore, LocalBlobStore, StagedBlob
from livebase.files.context import ActionStorage, StorageReader, StorageWriter, StoredFile
from livebase.files.storage import FileStorage, StorageError

__all__ = [
    "ActionStorage",
    "BlobInfo",
    "BlobReader",
    "BlobStore",
    "FileStorage",
    "LocalBlobStore",
    "StagedBlob",
    "StorageError",
    "StorageReader",
    "StorageWriter",
    "StoredFile",
]
