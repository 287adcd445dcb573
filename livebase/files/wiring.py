"""Connects file storage to the app: ``app.files`` and the ``ctx.storage`` providers."""

from __future__ import annotations

from typing import Any

from livebase.files.blobstore import LocalBlobStore
from livebase.files.context import ActionStorage, StorageReader, StorageWriter
from livebase.files.storage import FileStorage


def attach_storage(app: Any) -> None:
    """Create ``app.files`` (blobs in ``DATA_DIR/files``) and install
    ``ctx.storage`` providers on ``app.runner``."""
    files = FileStorage(app, LocalBlobStore(app.config.data_dir / "files"))
    app.files = files
    runner = app.runner
    runner.make_storage_reader = lambda txn: StorageReader(files, txn)
    runner.make_storage_writer = lambda txn: StorageWriter(files, txn)
    runner.make_action_storage = lambda: ActionStorage(files)
