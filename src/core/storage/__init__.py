"""The blob store: videos and MP3s, streamed in and out, on GridFS or a local folder.

`open_store(settings.storage_url)` picks the backend: `mongodb://...` → `GridFSStore`,
`file:///abs/path` → `LocalStore`. See `core.storage.base` for the contract and the error
classes (notably: `BlobNotFound` is *not* a `StorageError`; only `StorageError` is transient).
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from .base import (
    BUCKETS,
    BlobExists,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobStoreError,
    BlobTooLarge,
    StorageError,
    valid_id,
)


def open_store(url: str) -> BlobStore:
    """Return the blob store for `url` (`mongodb://`/`mongodb+srv://` or `file:///abs/path`)."""
    scheme = url.split(":", 1)[0].lower()
    if scheme in ("mongodb", "mongodb+srv"):
        from .gridfs import GridFSStore

        return GridFSStore(url)
    if scheme == "file":
        from .local import LocalStore

        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise ValueError("STORAGE_URL file:// URLs need an absolute path (file:///abs/path)")
        return LocalStore(unquote(parts.path))
    raise ValueError(f"unsupported STORAGE_URL scheme {scheme!r}; use mongodb:// or file://")


__all__ = [
    "BUCKETS",
    "BlobExists",
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "BlobStoreError",
    "BlobTooLarge",
    "StorageError",
    "open_store",
    "valid_id",
]
