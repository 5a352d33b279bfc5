"""The MongoDB GridFS backend (`STORAGE_URL=mongodb://...`).

Each bucket of `BUCKETS` is a GridFS bucket of the same name (`videos.files`/`videos.chunks`,
`mp3s.files`/`mp3s.chunks`) in the database named by the URL's path (default `vid2mp3`). The
caller's blob id is the file's `_id`. The files document carries, besides the GridFS fields, the
user's `metadata`, plus top-level `sha256` and `content_type` fields (so `metadata` stays exactly
what the caller passed).

Writes: `put` cuts the stream into GridFS chunks with `ChunkWriter`, which inserts them about a
megabyte at a time (pymongo's `GridIn` would hold up to 48 MB per upload, see gridfs_chunks.py),
then inserts the files document. On a source error or BlobTooLarge the chunks written so far are
deleted.

`replace=True` on an existing id: GridFS cannot rename a file's `_id`, so the new content is first
uploaded in full under a temporary id (`<id>~<hex>`); only when the source is read to the end is it
swapped in: delete the old files document and chunks, re-point the new chunks to the id, insert the
files document under the id, drop the temporary one. A failing source therefore never loses the old
blob. The swap itself is not atomic (MongoDB has no multi-document atomicity here): a reader may see
BlobNotFound for the few milliseconds it takes, and a crash in the middle leaves the blob missing,
which is why `replace` is meant for idempotent writers that simply run again.

Resumable writes (`append`) put GridFS chunks straight into `<bucket>.chunks` under the blob's
id, each at its number n (offset // chunk size), rewriting the last, partly filled chunk when
the next piece starts inside it; `finish_append` drops chunks past the end, hashes the chunks in
order and inserts the files document, which makes the blob exist for readers.

Errors from pymongo (server selection timeout, lost connection, any other driver error) become
`StorageError` whose message names the error class only (never the URL, which may hold a password).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO

import bson
import bson.errors
import gridfs
import pymongo
from pymongo import MongoClient
from pymongo.errors import ConfigurationError, DuplicateKeyError, InvalidURI, PyMongoError
from pymongo.uri_parser import parse_uri

from .base import (
    DEFAULT_CHUNK_SIZE,
    BlobExists,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    Readable,
    StorageError,
    check_append_args,
    check_bucket,
    check_put_args,
    check_range,
    check_readable,
    new_hasher,
    read_chunks,
    valid_id,
)
from .gridfs_chunks import ChunkWriter

log = logging.getLogger(__name__)

DEFAULT_DATABASE = "vid2mp3"
SERVER_SELECTION_TIMEOUT_MS = 3000
# A server that stops answering mid-operation: the operation fails (503) instead of hanging.
SOCKET_TIMEOUT_MS = 10_000
PING_TIMEOUT_S = 3.0
# The chunk size of blobs written by `append` (GridFS's default, as `put` uses).
GRID_CHUNK = gridfs.DEFAULT_CHUNK_SIZE
_TMP_SEP = "~"  # not a valid blob-id character, so temporary ids never clash with real ones


def _unavailable(exc: PyMongoError) -> StorageError:
    return StorageError(f"MongoDB storage failed: {type(exc).__name__}")


def _bson_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    metadata = dict(metadata or {})
    try:
        bson.encode(metadata)
    except (bson.errors.InvalidDocument, TypeError, OverflowError) as exc:
        raise ValueError(f"metadata cannot be stored in MongoDB: {exc}") from None
    return metadata


class GridFSStore(BlobStore):
    """Blob store over MongoDB GridFS; thread-safe (one MongoClient for all buckets)."""

    def __init__(self, url: str, *, client_options: dict[str, Any] | None = None) -> None:
        try:
            parsed = parse_uri(url)
        except (InvalidURI, ConfigurationError, ValueError):
            # pymongo's message may quote the URL, password included
            raise ValueError("STORAGE_URL is not a valid mongodb:// URL") from None
        options = {k.lower() for k in parsed["options"]}
        kwargs: dict[str, Any] = {"tz_aware": True, "connect": False, "appname": "vid2mp3"}
        if "serverselectiontimeoutms" not in options:
            kwargs["serverSelectionTimeoutMS"] = SERVER_SELECTION_TIMEOUT_MS
        if "connecttimeoutms" not in options:
            kwargs["connectTimeoutMS"] = SERVER_SELECTION_TIMEOUT_MS
        if "sockettimeoutms" not in options:
            kwargs["socketTimeoutMS"] = SOCKET_TIMEOUT_MS
        kwargs.update(client_options or {})
        # connect=False: no background threads until the first operation, so a store created
        # before gunicorn forks its workers is safe.
        self._client: MongoClient[dict[str, Any]] = MongoClient(url, **kwargs)
        self._db = self._client.get_database(parsed["database"] or DEFAULT_DATABASE)
        self._indexed: set[str] = set()

    @property
    def database_name(self) -> str:
        return self._db.name

    # -- helpers -------------------------------------------------------------------------------

    def _files(self, bucket: str) -> Any:
        return self._db[f"{bucket}.files"]

    def _chunks(self, bucket: str) -> Any:
        return self._db[f"{bucket}.chunks"]

    def _to_info(self, bucket: str, doc: dict[str, Any], blob_id: str | None = None) -> BlobInfo:
        created = doc.get("uploadDate") or datetime.now(UTC)
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        return BlobInfo(
            bucket=bucket,
            blob_id=blob_id if blob_id is not None else doc["_id"],
            size=int(doc.get("length", 0)),
            filename=doc.get("filename") or "",
            content_type=doc.get("content_type"),
            metadata=dict(doc.get("metadata") or {}),
            created_at=created.astimezone(UTC),
            sha256=doc.get("sha256") or "",
        )

    def _find_doc(self, bucket: str, blob_id: str) -> dict[str, Any]:
        check_readable(bucket, blob_id)
        try:
            doc = self._files(bucket).find_one({"_id": blob_id})
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        if doc is None:
            raise BlobNotFound(bucket, blob_id)
        return doc

    # -- writing -------------------------------------------------------------------------------

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
        check_put_args(bucket, blob_id, max_bytes, chunk_size)
        _bson_metadata(metadata)
        try:
            exists = self._files(bucket).find_one({"_id": blob_id}, {"_id": 1}) is not None
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        if exists and not replace:
            raise BlobExists(bucket, blob_id)
        target = f"{blob_id}{_TMP_SEP}{secrets.token_hex(8)}" if exists else blob_id
        doc = self._upload(
            bucket, target, stream, filename, content_type, metadata, max_bytes, chunk_size
        )
        if target != blob_id:
            self._swap(bucket, target, blob_id, doc)
            doc["_id"] = blob_id
        return self._to_info(bucket, doc)

    def _upload(
        self,
        bucket: str,
        file_id: str,
        stream: Readable | BinaryIO,
        filename: str,
        content_type: str | None,
        metadata: dict[str, Any] | None,
        max_bytes: int | None,
        chunk_size: int,
    ) -> dict[str, Any]:
        hasher = new_hasher()
        writer = ChunkWriter(self._chunks(bucket), file_id)
        try:
            self._ensure_indexes(bucket)
            for data in read_chunks(stream, chunk_size, max_bytes, hasher):
                writer.write(data)
            writer.close()
            doc = {
                "_id": file_id,
                "filename": filename,
                "metadata": dict(metadata or {}),
                "chunkSize": writer.chunk_size,
                "length": bson.Int64(writer.length),
                "uploadDate": datetime.now(UTC),
                "content_type": content_type,
                "sha256": hasher.hexdigest(),
            }
            self._files(bucket).insert_one(doc)
        except DuplicateKeyError:
            # Lost a race with another writer of the same id. Do NOT delete by files_id: those
            # are the winner's chunks. Only drop chunks of ours past the winner's end.
            self._drop_stray_chunks(bucket, file_id)
            raise BlobExists(bucket, file_id) from None
        except BaseException as exc:
            self._abort(bucket, file_id)
            if isinstance(exc, PyMongoError):
                raise _unavailable(exc) from exc
            raise
        return doc

    def _ensure_indexes(self, bucket: str) -> None:
        """Create the GridFS indexes once per bucket; the unique one is what tells of a race."""
        if bucket in self._indexed:
            return
        self._files(bucket).create_index([("filename", 1), ("uploadDate", 1)])
        self._chunks(bucket).create_index([("files_id", 1), ("n", 1)], unique=True)
        self._indexed.add(bucket)

    def _abort(self, bucket: str, file_id: str) -> None:
        try:
            self._chunks(bucket).delete_many({"files_id": file_id})
        except PyMongoError as exc:  # the original error matters more; log and move on
            log.warning("could not remove a partial GridFS upload: %s", type(exc).__name__)

    def _drop_stray_chunks(self, bucket: str, file_id: str) -> None:
        try:
            doc = self._files(bucket).find_one({"_id": file_id}, {"length": 1, "chunkSize": 1})
            if doc is not None and doc.get("chunkSize"):
                n = -(-int(doc["length"]) // int(doc["chunkSize"]))
                self._chunks(bucket).delete_many({"files_id": file_id, "n": {"$gte": n}})
        except PyMongoError as exc:
            log.warning("could not clean up after a lost GridFS race: %s", type(exc).__name__)

    def _swap(self, bucket: str, tmp_id: str, blob_id: str, doc: dict[str, Any]) -> None:
        files, chunks = self._files(bucket), self._chunks(bucket)
        try:
            full = files.find_one({"_id": tmp_id})
            if full is None:  # pragma: no cover - someone deleted our temporary upload
                raise StorageError("temporary upload vanished during replace")
            full["_id"] = blob_id
            files.delete_one({"_id": blob_id})
            chunks.delete_many({"files_id": blob_id})
            chunks.update_many({"files_id": tmp_id}, {"$set": {"files_id": blob_id}})
            try:
                files.insert_one(full)
            except DuplicateKeyError:
                # a concurrent replacer won; its chunks and ours are now mixed under the id
                raise StorageError("concurrent replace of the same blob") from None
            files.delete_one({"_id": tmp_id})
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        doc["uploadDate"] = full["uploadDate"]

    # -- resumable writing ---------------------------------------------------------------------

    def _write_chunk(self, bucket: str, blob_id: str, n: int, data: bytes | bytearray) -> None:
        self._chunks(bucket).replace_one(
            {"files_id": blob_id, "n": n},
            {"files_id": blob_id, "n": n, "data": bson.Binary(bytes(data))},
            upsert=True,
        )

    def append(
        self,
        bucket: str,
        blob_id: str,
        offset: int,
        stream: Readable | BinaryIO,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> int:
        check_append_args(bucket, blob_id, offset)
        n, keep = divmod(offset, GRID_CHUNK)
        try:
            self._ensure_indexes(bucket)
            if self._files(bucket).find_one({"_id": blob_id}, {"_id": 1}) is not None:
                raise BlobExists(bucket, blob_id)  # its chunks are a finished blob's
            pending = bytearray()
            if offset:
                before = (offset - 1) // GRID_CHUNK
                last = self._chunks(bucket).find_one({"files_id": blob_id, "n": before})
                if last is None or len(last["data"]) < offset - before * GRID_CHUNK:
                    raise StorageError(f"unfinished blob {blob_id!r} has fewer than {offset} bytes")
                # A partly filled last chunk is rewritten with the new bytes after its own.
                pending += last["data"][:keep]
            end = offset
            try:
                for data in read_chunks(stream, chunk_size):
                    pending += data
                    end += len(data)
                    while len(pending) >= GRID_CHUNK:
                        self._write_chunk(bucket, blob_id, n, pending[:GRID_CHUNK])
                        del pending[:GRID_CHUNK]
                        n += 1
            finally:
                # Also after a source error: the bytes that came are kept.
                if pending:
                    self._write_chunk(bucket, blob_id, n, pending)
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return end

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
        check_append_args(bucket, blob_id, size)
        metadata = _bson_metadata(metadata)
        count = -(-size // GRID_CHUNK)
        hasher = new_hasher()
        try:
            # Chunks past the end are what refused or interrupted pieces left behind.
            self._chunks(bucket).delete_many({"files_id": blob_id, "n": {"$gte": count}})
            length = 0
            cursor = self._chunks(bucket).find({"files_id": blob_id}, sort=[("n", 1)])
            for expected, chunk in enumerate(cursor):
                data = chunk["data"][: size - length]
                if chunk["n"] != expected or (expected < count - 1 and len(data) < GRID_CHUNK):
                    raise StorageError(f"unfinished blob {blob_id!r} has a missing chunk")
                hasher.update(data)
                length += len(data)
            if length != size:
                raise StorageError(f"unfinished blob {blob_id!r} has fewer than {size} bytes")
            if size and len(data) < len(chunk["data"]):
                self._write_chunk(bucket, blob_id, count - 1, data)
            doc = {
                "_id": blob_id,
                "length": size,
                "chunkSize": GRID_CHUNK,
                "uploadDate": datetime.now(UTC),
                "filename": filename,
                "metadata": metadata,
                "content_type": content_type,
                "sha256": hasher.hexdigest(),
            }
            try:
                self._files(bucket).insert_one(doc)
            except DuplicateKeyError:
                raise BlobExists(bucket, blob_id) from None
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return self._to_info(bucket, doc)

    def discard_append(self, bucket: str, blob_id: str) -> None:
        check_bucket(bucket)
        if not valid_id(blob_id):
            return
        try:
            if self._files(bucket).find_one({"_id": blob_id}, {"_id": 1}) is None:
                self._chunks(bucket).delete_many({"files_id": blob_id})
        except PyMongoError as exc:
            raise _unavailable(exc) from exc

    # -- reading -------------------------------------------------------------------------------

    def info(self, bucket: str, blob_id: str) -> BlobInfo:
        return self._to_info(bucket, self._find_doc(bucket, blob_id))

    def open_range(
        self, bucket: str, blob_id: str, start: int = 0, end: int | None = None
    ) -> Iterator[bytes]:
        check_range(start, end)
        doc = self._find_doc(bucket, blob_id)
        size = int(doc.get("length", 0))
        stop = size if end is None else min(end, size)
        grid_out = gridfs.GridOut(self._db[bucket], blob_id, file_document=doc)
        return self._iter_range(grid_out, start, stop)

    @staticmethod
    def _iter_range(grid_out: Any, start: int, stop: int) -> Iterator[bytes]:
        try:
            if start >= stop:
                return
            grid_out.seek(start)  # GridOut starts its chunk cursor at the chunk holding `start`
            remaining = stop - start
            while remaining > 0:
                data = grid_out.readchunk()
                if not data:
                    raise StorageError("GridFS file is shorter than its length")
                if len(data) > remaining:
                    data = data[:remaining]
                remaining -= len(data)
                yield data
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        finally:
            grid_out.close()

    def delete(self, bucket: str, blob_id: str) -> bool:
        check_bucket(bucket)
        if not valid_id(blob_id):
            return False
        try:
            # files document first: once it is gone the blob is gone for every reader
            existed = self._files(bucket).delete_one({"_id": blob_id}).deleted_count > 0
            self._chunks(bucket).delete_many({"files_id": blob_id})
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return existed

    # -- lifecycle -----------------------------------------------------------------------------

    def ping(self) -> None:
        try:
            # pymongo.timeout() replaces serverSelectionTimeoutMS rather than capping it, so
            # take the smaller of the two or a short URL setting would be ignored.
            limit = min(PING_TIMEOUT_S, self._client.options.server_selection_timeout)
            with pymongo.timeout(limit):
                self._client.admin.command("ping")
        except PyMongoError as exc:
            raise _unavailable(exc) from exc

    def close(self) -> None:
        self._client.close()
