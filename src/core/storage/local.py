"""The local-folder backend (`STORAGE_URL=file:///abs/path`), for the embedded mode and tests.

Layout, per bucket folder `<root>/<bucket>/`:

- `<id>.json`: the sidecar (size, sha256, filename, content type, metadata, creation time, and the
  name of the data file). **The sidecar is the commit point**: a blob exists iff its sidecar does.
- `<id>.<version>.data`: the content. Each write gets a fresh random version, so a replace never
  overwrites bytes a reader may be streaming.
- `.tmp-*`: files being written; none survives a `put`, successful or not.
- `.append-<id>.data`: an unfinished blob written piece by piece (`append`); `finish_append`
  hashes it and publishes it as a `put` does, `discard_append` removes it.

`put` streams into a temp file, fsyncs it and renames it to its versioned data name, writes the
sidecar to a temp file (fsync), then publishes it: `os.link` for a new blob (atomic
create-if-absent, so two racing writers cannot both win) or `os.replace` for `replace=True`
(atomic swap; the old data file is removed afterwards), and fsyncs the folder. A reader
therefore sees the old blob or the new one, never a mix. Deleting removes the sidecar
first, then the data.

Metadata must be JSON-serialisable. Filesystem failures of our own files (disk full,
permissions) are raised as `StorageError`; errors from the caller's source stream propagate
unchanged.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from .base import (
    BUCKETS,
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
    digest,
    new_hasher,
    read_chunks,
    valid_id,
)

TMP_PREFIX = ".tmp-"
APPEND_PREFIX = ".append-"
_READ_SIZE = 1 << 20


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _sync(f: BinaryIO) -> None:
    try:
        f.flush()
        os.fsync(f.fileno())
    except OSError as exc:
        raise StorageError(f"cannot write a blob file: {exc.strerror}") from exc


def _json_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    metadata = dict(metadata or {})
    try:
        json.dumps(metadata)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metadata is not JSON-serialisable: {exc}") from None
    return metadata


def _sidecar_doc(
    blob_id: str,
    size: int,
    sha256: str,
    filename: str,
    content_type: str | None,
    metadata: dict[str, Any],
) -> dict[str, Any]:
    return {
        "blob_id": blob_id,
        "size": size,
        "sha256": sha256,
        "filename": filename,
        "content_type": content_type,
        "metadata": metadata,
        "created_at": datetime.now(UTC).isoformat(),
    }


class LocalStore(BlobStore):
    """Blob store in a local folder; safe for threads and processes sharing the folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if not self.root.is_absolute():
            raise ValueError("the local blob store needs an absolute path")
        try:
            for bucket in BUCKETS:
                (self.root / bucket).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the blob folder: {exc.strerror}") from exc

    # -- helpers -------------------------------------------------------------------------------

    def _dir(self, bucket: str) -> Path:
        return self.root / bucket

    def _sidecar(self, bucket: str, blob_id: str) -> Path:
        return self._dir(bucket) / f"{blob_id}.json"

    def _read_sidecar(self, bucket: str, blob_id: str) -> dict[str, Any]:
        check_readable(bucket, blob_id)
        try:
            return json.loads(self._sidecar(bucket, blob_id).read_bytes())
        except FileNotFoundError:
            raise BlobNotFound(bucket, blob_id) from None
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot read the sidecar of blob {blob_id!r}") from exc

    @staticmethod
    def _to_info(bucket: str, side: dict[str, Any]) -> BlobInfo:
        return BlobInfo(
            bucket=bucket,
            blob_id=side["blob_id"],
            size=int(side["size"]),
            filename=side["filename"],
            content_type=side.get("content_type"),
            metadata=dict(side.get("metadata") or {}),
            created_at=datetime.fromisoformat(side["created_at"]).astimezone(UTC),
            sha256=side["sha256"],
        )

    def _data_path(self, bucket: str, side: dict[str, Any]) -> Path:
        return self._dir(bucket) / Path(side["data"]).name  # never a path outside the bucket

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
        metadata = _json_metadata(metadata)
        folder = self._dir(bucket)
        if not replace and self._sidecar(bucket, blob_id).exists():
            raise BlobExists(bucket, blob_id)

        version = secrets.token_hex(8)
        tmp_data = folder / f"{TMP_PREFIX}{blob_id}.{version}.data"
        hasher = new_hasher()
        size = 0
        try:
            try:
                out = tmp_data.open("xb")
            except OSError as exc:
                raise StorageError(f"cannot create a blob file: {exc.strerror}") from exc
            with out:
                for data in read_chunks(stream, chunk_size, max_bytes, hasher):
                    try:
                        out.write(data)
                    except OSError as exc:
                        raise StorageError(f"cannot write a blob file: {exc.strerror}") from exc
                    size += len(data)
                _sync(out)
            side = _sidecar_doc(blob_id, size, hasher.hexdigest(), filename, content_type, metadata)
            return self._publish(bucket, blob_id, tmp_data, side, replace)
        finally:
            _unlink(tmp_data)

    def _publish(
        self, bucket: str, blob_id: str, source: Path, side: dict[str, Any], replace: bool
    ) -> BlobInfo:
        """Move the written file `source` to a fresh data name and commit its sidecar."""
        folder = self._dir(bucket)
        sidecar = self._sidecar(bucket, blob_id)
        version = secrets.token_hex(8)
        tmp_side = folder / f"{TMP_PREFIX}{blob_id}.{version}.json"
        data_path = folder / f"{blob_id}.{version}.data"
        side["data"] = data_path.name
        committed = False
        try:
            try:
                os.replace(source, data_path)
                with tmp_side.open("xb") as f:
                    f.write(json.dumps(side, separators=(",", ":")).encode())
                    _sync(f)
                old = None
                if replace:
                    with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
                        old = self._data_path(bucket, json.loads(sidecar.read_bytes()))
                    os.replace(tmp_side, sidecar)
                else:
                    try:
                        os.link(tmp_side, sidecar)  # atomic: fails if the id was taken meanwhile
                    except FileExistsError:
                        raise BlobExists(bucket, blob_id) from None
                committed = True
                _fsync_dir(folder)
            except OSError as exc:
                raise StorageError(f"cannot publish a blob: {exc.strerror}") from exc
            if old is not None and old != data_path:
                _unlink(old)
            return self._to_info(bucket, side)
        finally:
            _unlink(tmp_side)
            if not committed:
                _unlink(data_path)

    # -- resumable writing ---------------------------------------------------------------------

    def _appended(self, bucket: str, blob_id: str) -> Path:
        return self._dir(bucket) / f"{APPEND_PREFIX}{blob_id}.data"

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
        if self._sidecar(bucket, blob_id).exists():
            raise BlobExists(bucket, blob_id)
        path = self._appended(bucket, blob_id)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StorageError(f"cannot open an unfinished blob: {exc.strerror}") from exc
        with os.fdopen(fd, "wb") as out:
            if os.fstat(fd).st_size < offset:
                raise StorageError(f"unfinished blob {blob_id!r} has fewer than {offset} bytes")
            out.seek(offset)
            end = offset
            try:
                for data in read_chunks(stream, chunk_size):
                    try:
                        out.write(data)
                    except OSError as exc:
                        raise StorageError(f"cannot write a blob file: {exc.strerror}") from exc
                    end += len(data)
            finally:
                # Also after a source error: the bytes that came are kept, and only they.
                out.truncate(end)
                _sync(out)
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
        metadata = _json_metadata(metadata)
        path = self._appended(bucket, blob_id)
        try:
            with path.open("r+b") as f:
                if os.fstat(f.fileno()).st_size < size:
                    raise StorageError(f"unfinished blob {blob_id!r} has fewer than {size} bytes")
                f.truncate(size)
                _, sha256 = digest(f)
        except FileNotFoundError:
            raise StorageError(f"no unfinished blob {blob_id!r}") from None
        except OSError as exc:
            raise StorageError(f"cannot read an unfinished blob: {exc.strerror}") from exc
        side = _sidecar_doc(blob_id, size, sha256, filename, content_type, metadata)
        return self._publish(bucket, blob_id, path, side, replace=False)

    def discard_append(self, bucket: str, blob_id: str) -> None:
        check_bucket(bucket)
        if valid_id(blob_id):
            _unlink(self._appended(bucket, blob_id))

    # -- reading -------------------------------------------------------------------------------

    def info(self, bucket: str, blob_id: str) -> BlobInfo:
        return self._to_info(bucket, self._read_sidecar(bucket, blob_id))

    def local_path(self, bucket: str, blob_id: str) -> Path | None:
        return self._data_path(bucket, self._read_sidecar(bucket, blob_id))

    def open_range(
        self, bucket: str, blob_id: str, start: int = 0, end: int | None = None
    ) -> Iterator[bytes]:
        check_range(start, end)
        for _attempt in range(3):
            side = self._read_sidecar(bucket, blob_id)
            try:
                f = self._data_path(bucket, side).open("rb")
            except FileNotFoundError:
                continue  # replaced or deleted between the two reads: look again
            except OSError as exc:
                raise StorageError(f"cannot open blob {blob_id!r}: {exc.strerror}") from exc
            size = int(side["size"])
            stop = size if end is None else min(end, size)
            return self._iter_file(f, start, stop)
        raise BlobNotFound(bucket, blob_id)

    @staticmethod
    def _iter_file(f: BinaryIO, start: int, stop: int) -> Iterator[bytes]:
        with f:
            if start >= stop:
                return
            f.seek(start)
            remaining = stop - start
            while remaining > 0:
                data = f.read(min(_READ_SIZE, remaining))
                if not data:
                    raise StorageError("blob file is shorter than its recorded size")
                remaining -= len(data)
                yield data

    def delete(self, bucket: str, blob_id: str) -> bool:
        check_bucket(bucket)
        if not valid_id(blob_id):
            return False
        try:
            side = self._read_sidecar(bucket, blob_id)
        except BlobNotFound:
            return False
        try:
            self._sidecar(bucket, blob_id).unlink()
        except FileNotFoundError:
            return False  # a concurrent delete won
        except OSError as exc:
            raise StorageError(f"cannot delete blob {blob_id!r}: {exc.strerror}") from exc
        _unlink(self._data_path(bucket, side))
        return True

    # -- lifecycle -----------------------------------------------------------------------------

    def ping(self) -> None:
        for bucket in BUCKETS:
            probe = self._dir(bucket) / f"{TMP_PREFIX}ping-{secrets.token_hex(4)}"
            try:
                probe.write_bytes(b"")
                probe.unlink()
            except OSError as exc:
                raise StorageError(f"blob folder not writable: {exc.strerror}") from exc
