"""Write a GridFS file's chunks in small batches, so an upload holds about a megabyte.

pymongo's `GridIn` keeps every chunk document it has cut until they add up to the server's
largest message (48 MB), then sends them in one `insert_many`, which encodes another copy: an
upload holds 85-100 MB while it runs, and ten at once in one web worker took it past 500 MB.
`ChunkWriter` cuts the same chunks (the GridFS layout: `files_id`, `n`, `data`, in the bucket's
`<bucket>.chunks` collection) and inserts them as soon as `batch_bytes` are waiting, so what a
writer holds is bounded by a couple of batches whatever the file's size or the number of uploads.

The files document is the caller's to insert once `close()` has written the last chunk: a file
exists for readers only when all of its chunks do.
"""

from __future__ import annotations

from typing import Any

from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError

# The GridFS specification's default chunk size, as pymongo's GridFSBucket uses.
CHUNK_SIZE = 255 * 1024
# Chunks are sent once this much waits: four full chunks, ~1 MiB per round trip.
BATCH_BYTES = 4 * CHUNK_SIZE
_DUPLICATE_KEY_CODES = (11000, 11001, 12582)


class ChunkWriter:
    """Cut written bytes into chunks of one file and insert them a batch at a time."""

    def __init__(
        self,
        chunks: Collection[dict[str, Any]],
        files_id: str,
        *,
        chunk_size: int = CHUNK_SIZE,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        self._chunks = chunks
        self._files_id = files_id
        self.chunk_size = chunk_size
        self._batch_bytes = batch_bytes
        self._pending = bytearray()  # bytes not yet cut into a full chunk
        self._batch: list[dict[str, Any]] = []
        self._batched = 0
        self._n = 0
        self.length = 0

    def write(self, data: bytes) -> None:
        """Take `data`; send whatever complete batches it makes."""
        self._pending += data
        self.length += len(data)
        start = 0
        while len(self._pending) - start >= self.chunk_size:
            self._add(bytes(self._pending[start : start + self.chunk_size]))
            start += self.chunk_size
        del self._pending[:start]

    def close(self) -> None:
        """Send the last, short chunk and whatever batch is still waiting."""
        if self._pending:
            self._add(bytes(self._pending))
            self._pending.clear()
        self._send()

    def _add(self, data: bytes) -> None:
        self._batch.append({"files_id": self._files_id, "n": self._n, "data": data})
        self._n += 1
        self._batched += len(data)
        if self._batched >= self._batch_bytes:
            self._send()

    def _send(self) -> None:
        if not self._batch:
            return
        try:
            self._chunks.insert_many(self._batch, ordered=True)
        except BulkWriteError as exc:
            # Another writer of the same file id holds these chunk numbers (unique index).
            if any(e.get("code") in _DUPLICATE_KEY_CODES for e in exc.details["writeErrors"]):
                raise DuplicateKeyError("chunk of this file id exists") from None
            raise
        self._batch = []
        self._batched = 0
