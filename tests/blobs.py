"""Look into a blob store behind its interface: what a test checks that the app never asks."""

from __future__ import annotations

from core.storage import BlobNotFound, BlobStore
from core.storage.gridfs import GridFSStore


def has_blob(store: BlobStore, bucket: str, blob_id: object) -> bool:
    """Tell whether the store holds the blob (False for a malformed id)."""
    try:
        store.info(bucket, blob_id)
    except BlobNotFound:
        return False
    return True


def stored_ids(store: BlobStore, bucket: str) -> list[str]:
    """Return every blob id the backend holds in `bucket`, GridFS' temporary `id~hex` ones too."""
    if isinstance(store, GridFSStore):
        files = store._client[store.database_name][f"{bucket}.files"]  # the backend's own view
        return sorted(doc["_id"] for doc in files.find({}, {"_id": 1}))
    return sorted(path.stem for path in (store.root / bucket).glob("*.json"))


def blobs_of(store: BlobStore, bucket: str, blob_id: str) -> list[str]:
    """Return the stored ids that belong to `blob_id`: itself and any leftover temporary copy."""
    return [found for found in stored_ids(store, bucket) if found.split("~")[0] == blob_id]
