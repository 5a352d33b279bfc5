"""The blob store interface shared by the GridFS and local-folder backends.

A blob lives in one of two buckets (`videos`, `mp3s`) under an id chosen by the caller. Ids are
deterministic where it matters (the MP3 of a job is stored under an id derived from the job id), so
writing twice never makes a second blob: the second `put` raises `BlobExists`, or replaces the
first with `replace=True`.

Exceptions, and what a caller should do with them:

- `StorageError`: the backend is unreachable or failed (MongoDB down, disk error). Transient:
  retry later; the web app answers 503.
- `BlobNotFound`: no such blob, or an id that cannot be a blob id. Permanent: 404. It is
  deliberately *not* a `StorageError`, so `except StorageError: retry` never retries a missing
  blob; catch it first or on its own.
- `BlobTooLarge`: the source stream went over `max_bytes`; nothing was kept (HTTP 413).
- `BlobExists`: `put` without `replace=True` on an id that is taken.
- `ValueError`: a programming error (unknown bucket, invalid id passed to `put`, bad range).

Resumable uploads write a blob in pieces over many requests: `append` writes a piece at the
offset the caller has recorded, `finish_append` turns the pieces into the blob, and
`discard_append` drops an unfinished one. The caller's record (a database row) is the truth
about how many bytes are good: whatever an interrupted or refused piece left past that offset is
overwritten by the next `append` and cut off by `finish_append`.
"""

from __future__ import annotations

import abc
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import Any, BinaryIO, Protocol

BUCKETS = ("videos", "mp3s")
DEFAULT_CHUNK_SIZE = 1 << 20
_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


class Readable(Protocol):
    """What `put` needs from a source: `read(n)` returning at most n bytes, b"" at the end."""

    def read(self, n: int, /) -> bytes: ...


class BlobStoreError(Exception):
    """Base class of every error the blob store raises on purpose."""


class StorageError(BlobStoreError):
    """The backend is unreachable or failed; transient, worth a retry (HTTP 503)."""


class BlobNotFound(BlobStoreError, LookupError):
    """No blob with this id in this bucket, or the id is not a valid blob id (HTTP 404).

    Not a `StorageError`: a missing blob stays missing, so it is never retried.
    """

    def __init__(self, bucket: str, blob_id: object) -> None:
        super().__init__(f"no blob {blob_id!r} in bucket {bucket!r}")
        self.bucket = bucket
        self.blob_id = blob_id


class BlobTooLarge(BlobStoreError):
    """The source had more than `limit` bytes; everything written was removed (HTTP 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"blob exceeds the limit of {limit} bytes")
        self.limit = limit


class BlobExists(BlobStoreError):
    """`put` without `replace=True` on an id that already holds a blob."""

    def __init__(self, bucket: str, blob_id: str) -> None:
        super().__init__(f"blob {blob_id!r} already exists in bucket {bucket!r}")
        self.bucket = bucket
        self.blob_id = blob_id


@dataclass(frozen=True)
class BlobInfo:
    """What the store knows about one blob."""

    bucket: str
    blob_id: str
    size: int
    filename: str
    content_type: str | None
    metadata: dict[str, Any] = field(hash=False)
    created_at: datetime  # timezone-aware, UTC
    sha256: str  # hex digest of the content, computed while streaming it in


def valid_id(blob_id: object) -> bool:
    """Tell whether `blob_id` is a well-formed blob id (`[A-Za-z0-9_-]{1,64}`)."""
    return isinstance(blob_id, str) and _ID_RE.fullmatch(blob_id) is not None


def check_bucket(bucket: str) -> None:
    """Raise ValueError for a bucket that is not one of `BUCKETS`."""
    if bucket not in BUCKETS:
        raise ValueError(f"unknown bucket {bucket!r}; expected one of {BUCKETS}")


def check_put_args(bucket: str, blob_id: str, max_bytes: int | None, chunk_size: int) -> None:
    """Validate the arguments of `put` (programming errors raise ValueError)."""
    check_bucket(bucket)
    if not valid_id(blob_id):
        raise ValueError(f"invalid blob id {blob_id!r}; expected [A-Za-z0-9_-]{{1,64}}")
    if max_bytes is not None and max_bytes < 0:
        raise ValueError("max_bytes must be >= 0")
    if chunk_size <= 0:
        raise ValueError("chunk_size must be > 0")


def check_readable(bucket: str, blob_id: object) -> None:
    """For reads: unknown bucket → ValueError; malformed id → BlobNotFound (never a path)."""
    check_bucket(bucket)
    if not valid_id(blob_id):
        raise BlobNotFound(bucket, blob_id)


def check_append_args(bucket: str, blob_id: str, offset: int) -> None:
    """Validate the arguments of `append` and `finish_append` (ValueError when wrong)."""
    check_put_args(bucket, blob_id, None, 1)
    if offset < 0:
        raise ValueError("offset must be >= 0")


def check_range(start: int, end: int | None) -> None:
    """Validate an `open_range` request (end exclusive; None means to the end)."""
    if start < 0:
        raise ValueError("start must be >= 0")
    if end is not None and end < start:
        raise ValueError("end must be >= start")


def read_chunks(
    stream: Readable, chunk_size: int, max_bytes: int | None = None, hasher: Any = None
) -> Iterator[bytes]:
    """Yield the source's bytes in pieces of at most `chunk_size`, hashing them as they pass.

    Raises BlobTooLarge as soon as more than `max_bytes` were read (before yielding the piece
    that crossed the limit). Exceptions from the source propagate unchanged.
    """
    total = 0
    while True:
        data = stream.read(chunk_size)
        if data is None:
            raise OSError("the source stream returned None (a non-blocking stream?)")
        if not data:
            return
        total += len(data)
        if max_bytes is not None and total > max_bytes:
            raise BlobTooLarge(max_bytes)
        if hasher is not None:
            hasher.update(data)
        yield bytes(data)


def new_hasher() -> Any:
    return hashlib.sha256()


def digest(stream: Readable, chunk_size: int = DEFAULT_CHUNK_SIZE) -> tuple[int, str]:
    """Read `stream` to its end; return its length and the hex sha256 of its bytes."""
    hasher = new_hasher()
    size = 0
    for data in read_chunks(stream, chunk_size, None, hasher):
        size += len(data)
    return size, hasher.hexdigest()


class BlobStore(abc.ABC):
    """Streamed blob storage in two buckets; see the module docstring for the error contract."""

    @abc.abstractmethod
    def put(
        self,
        bucket: str,
        blob_id: str,
        stream: Readable | BinaryIO,
        *,
        filename: str,
        content_type: str | None = None,
        metadata: dict[str, Any] | None = None,
        max_bytes: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        replace: bool = False,
    ) -> BlobInfo:
        """Stream `stream` into a new blob, `chunk_size` bytes at a time.

        Over `max_bytes` → everything written is removed and BlobTooLarge is raised. Any exception
        from the source (client disconnect...) → the partial blob is removed and the exception
        re-raised. An existing id → BlobExists, unless `replace=True`.
        """

    @abc.abstractmethod
    def append(
        self,
        bucket: str,
        blob_id: str,
        offset: int,
        stream: Readable | BinaryIO,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> int:
        """Write `stream` into the unfinished blob `blob_id` from `offset`; return the new end.

        The bytes before `offset` must have been appended earlier (StorageError otherwise);
        an id that is already a finished blob raises BlobExists.
        Reads `chunk_size` bytes at a time and keeps no more than about one chunk in memory.
        Exceptions from the source propagate; the bytes already written stay, and count only
        once the caller records a new offset.
        """

    @abc.abstractmethod
    def finish_append(
        self,
        bucket: str,
        blob_id: str,
        size: int,
        *,
        filename: str,
        content_type: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> BlobInfo:
        """Make the first `size` appended bytes the blob `blob_id` (its sha256 read once more).

        StorageError if fewer bytes were appended; BlobExists if the id is taken.
        """

    @abc.abstractmethod
    def discard_append(self, bucket: str, blob_id: str) -> None:
        """Drop the appended bytes of an unfinished blob; a finished blob is left alone."""

    @abc.abstractmethod
    def info(self, bucket: str, blob_id: str) -> BlobInfo:
        """Return the blob's BlobInfo; BlobNotFound if there is none."""

    @abc.abstractmethod
    def open_range(
        self, bucket: str, blob_id: str, start: int = 0, end: int | None = None
    ) -> Iterator[bytes]:
        """Return an iterator over the bytes [start, end) of the blob, in chunks.

        The blob is looked up eagerly (BlobNotFound is raised by this call, not on the first
        `next`), so a web handler can answer 404 before it starts a response. `end` is clamped
        to the size; a start at or past the end yields nothing. Close the iterator (or exhaust
        it) to release the backend's cursor or file handle.
        """

    def local_path(self, bucket: str, blob_id: str) -> Path | None:
        """Return a local file holding the blob's bytes, or None when the backend has none.

        For readers that want a file (ffmpeg): read it, never write it. A `put` with `replace`
        or a `delete` later removes the path, while a reader that opened it keeps its bytes.
        Raises BlobNotFound as `info` does.
        """
        self.info(bucket, blob_id)
        return None

    def copy_to_file(
        self,
        bucket: str,
        blob_id: str,
        path: str | PathLike[str],
        *,
        on_chunk: Callable[[], None] | None = None,
    ) -> None:
        """Stream the blob into a local file (created or truncated).

        `on_chunk` is called after each chunk (a worker's heartbeat; it may raise to stop).
        On any failure the partly written file is removed.
        """
        path = Path(path)
        chunks = self.open_range(bucket, blob_id)
        try:
            with path.open("wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    if on_chunk is not None:
                        on_chunk()
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    @abc.abstractmethod
    def delete(self, bucket: str, blob_id: str) -> bool:
        """Delete the blob; True if it existed. Safe to call twice (and on malformed ids)."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise StorageError if the backend cannot serve (readiness probe)."""

    def close(self) -> None:  # noqa: B027 - a no-op default is right for most backends
        """Release connections and handles."""

    def __enter__(self) -> BlobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
