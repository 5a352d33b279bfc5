"""Resumable uploads over tus 1.0: core protocol plus creation, termination, expiration, checksum.

`POST /files` creates an upload (its length in `Upload-Length`, its name and the job's fields
in `Upload-Metadata`), `HEAD /files/{id}` tells how many bytes arrived, `PATCH /files/{id}`
appends bytes at `Upload-Offset` straight into the blob store (`BlobStore.append`), `DELETE`
drops an unfinished upload, `OPTIONS` describes the server. The row in `uploads` holds the
offset and the lock that lets one request at a time write (`core.uploads`), across workers.

The upload's id is the id of the job it becomes: the PATCH that brings the last byte finishes
the blob, checks it is media and makes the job exactly as `POST /upload` does
(`UploadJobs.create_job_from_blob`). The bytes of a PATCH cut short by the client are kept; a
PATCH whose `Upload-Checksum` does not match is dropped (460).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

import falcon

from core import uploads
from core.db import session_scope
from core.models import Upload
from core.settings import Settings
from core.storage import BlobStore
from web.errors import Problem, not_found
from web.links import link
from web.sniff import SNIFF_BYTES, sniff_container
from web.upload_jobs import UploadJobs, display_name, over_quota, too_large

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,termination,expiration,checksum"
CHECKSUMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}
OFFSET_STREAM = "application/offset+octet-stream"
HTTP_460 = "460 Checksum Mismatch"
TOKEN_SCOPES = {"POST": "upload", "HEAD": "upload", "PATCH": "upload", "DELETE": "upload"}
# Upload-Metadata keys that describe the file; every other key is a field of the job.
_FILE_KEYS = ("filename", "filetype")
_MAX_METADATA = 16 * 1024
_KEY = re.compile(r"[!#-+\-.0-9A-Z^-z|~]+")  # printable ASCII without spaces and commas
_NUMBER = re.compile(r"[0-9]{1,19}")


class TusHeaderMiddleware:
    """Put `Tus-Resumable` on every answer of the tus resources, errors included.

    A refused PATCH also closes the connection: its body may be unread, and a client that is
    still sending it (a browser's automatic retry of a cut request) stops instead of pushing
    bytes nobody reads.
    """

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        if isinstance(resource, _TusResource):
            resp.set_header("Tus-Resumable", TUS_VERSION)
            if req.method == "PATCH" and not req_succeeded:
                resp.set_header("Connection", "close")


class _TusResource:
    token_scopes = TOKEN_SCOPES

    def __init__(self, settings: Settings, sessions, store: BlobStore, jobs: UploadJobs) -> None:
        self._settings = settings
        self._sessions = sessions
        self._store = store
        self._jobs = jobs

    def on_options(self, req: falcon.Request, resp: falcon.Response, **_) -> None:
        resp.status = falcon.HTTP_204
        resp.set_header("Tus-Version", TUS_VERSION)
        resp.set_header("Tus-Extension", EXTENSIONS)
        resp.set_header("Tus-Max-Size", str(self._settings.max_upload_bytes))
        resp.set_header("Tus-Checksum-Algorithm", ",".join(CHECKSUMS))


class TusUploadsResource(_TusResource):
    """`POST /files`: create an upload (tus creation)."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        _check_version(req)
        length = _number(req, "Upload-Length")
        limit = self._settings.max_upload_bytes
        if length == 0:
            raise Problem(falcon.HTTP_400, "the file is empty (Upload-Length: 0)")
        if length > limit:
            raise too_large(limit)
        owner = req.context.principal.id
        remaining = self._jobs.remaining_quota(owner)
        if length > remaining:
            raise over_quota()
        metadata = parse_metadata(req.get_header("Upload-Metadata") or "")
        fields = {k: v for k, v in metadata.items() if k not in _FILE_KEYS}
        self._jobs.parse(fields)  # refuse bad options now, not after the last byte
        with session_scope(self._sessions) as session:
            upload = uploads.create(
                session,
                owner,
                length,
                display_name(metadata.get("filename")),
                (metadata.get("filetype") or "")[:127] or None,
                fields,
                self._settings.upload_expiry_seconds,
            )
            upload_id, expires_at = upload.id, upload.expires_at
        resp.status = falcon.HTTP_201
        resp.location = link(req, f"/files/{upload_id}")
        resp.set_header("Upload-Expires", falcon.dt_to_http(expires_at))


class TusUploadResource(_TusResource):
    """`HEAD`, `PATCH`, `DELETE /files/{upload_id}`: one upload."""

    def on_head(self, req: falcon.Request, resp: falcon.Response, upload_id) -> None:
        _check_version(req)
        try:
            upload = uploads.settled(self._sessions, upload_id.hex, req.context.principal.id)
        except (uploads.UploadGone, uploads.UploadExpired) as error:
            raise _gone(error) from None
        resp.set_header("Upload-Offset", str(upload.received))
        resp.set_header("Upload-Length", str(upload.length))
        resp.set_header("Upload-Metadata", _metadata_header(upload))
        if upload.finished_at is None:
            resp.set_header("Upload-Expires", falcon.dt_to_http(upload.expires_at))
        resp.cache_control = ["no-store"]

    def on_patch(self, req: falcon.Request, resp: falcon.Response, upload_id) -> None:
        _check_version(req)
        if (req.content_type or "").split(";")[0].strip().lower() != OFFSET_STREAM:
            raise Problem(falcon.HTTP_415, f"send the bytes as {OFFSET_STREAM}")
        offset = _number(req, "Upload-Offset")
        checksum = _checksum(req.get_header("Upload-Checksum"))
        owner = req.context.principal.id
        with session_scope(self._sessions) as session:
            upload = _find(session, upload_id.hex, owner)
            upload_id, length = upload.id, upload.length
            filename, content_type, fields = upload.filename, upload.content_type, upload.fields
        if req.content_length is not None and offset + req.content_length > length:
            raise Problem(
                falcon.HTTP_413,
                f"the bytes go past the upload's length of {length}",
                limit=length,
            )
        try:
            lock = uploads.acquire(self._sessions, upload_id, owner, offset)
        except uploads.OffsetMismatch as error:
            raise Problem(
                falcon.HTTP_409,
                f"Upload-Offset is {offset} but the upload is at {error.received}",
                headers={"Upload-Offset": str(error.received)},
            ) from None
        except (uploads.UploadGone, uploads.UploadExpired) as error:
            raise _gone(error) from None
        except uploads.UploadBusy:
            raise Problem("423 Locked", "another request is writing to this upload") from None
        body = _Body(req.bounded_stream, length - offset, lock, checksum)
        try:
            end = self._store.append("videos", upload_id, offset, body)
        except uploads.LockLost:
            raise Problem(falcon.HTTP_409, "another request took over this upload") from None
        except BaseException:
            lock.release()
            raise
        if body.too_long:
            lock.release()
            raise Problem(
                falcon.HTTP_413, f"the bytes go past the upload's length of {length}", limit=length
            )
        if checksum is not None and not hmac.compare_digest(body.digest(), checksum[1]):
            lock.release()
            raise Problem(HTTP_460, "the bytes do not match Upload-Checksum; send them again")
        if end < length:
            if not lock.release(end, expiry_seconds=self._settings.upload_expiry_seconds):
                raise Problem(falcon.HTTP_409, "another request took over this upload")
            resp.set_header("Upload-Expires", falcon.dt_to_http(lock.expires_at))
        else:
            self._finish(lock, owner, length, filename, content_type, fields)
        resp.status = falcon.HTTP_204
        resp.set_header("Upload-Offset", str(end))

    def _finish(self, lock, owner, length, filename, content_type, fields) -> None:
        """Make the job of a complete upload; on any failure nothing of the upload is left."""
        upload_id = lock.upload_id
        try:
            stored = self._store.finish_append(
                "videos",
                upload_id,
                length,
                filename=filename,
                content_type=content_type,
                metadata={"owner": owner, "job_id": upload_id},
            )
            head = b"".join(self._store.open_range("videos", upload_id, 0, SNIFF_BYTES))
            if sniff_container(head) is None:
                raise Problem(
                    falcon.HTTP_415, "the file is not a video or audio file this service can read"
                )
            self._jobs.create_job_from_blob(upload_id, owner, stored, self._jobs.parse(fields))
        except BaseException:
            # The client's next HEAD gets 404 and it starts over: better than a stuck upload.
            self._jobs.discard(upload_id)
            self._store.discard_append("videos", upload_id)
            with session_scope(self._sessions) as session:
                uploads.forget(session, upload_id)
            raise
        lock.release(length, finished=True, expiry_seconds=self._settings.upload_expiry_seconds)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, upload_id) -> None:
        _check_version(req)
        with session_scope(self._sessions) as session:
            try:
                deleted, finished = uploads.terminate(
                    session, upload_id.hex, req.context.principal.id
                )
            except (uploads.UploadGone, uploads.UploadExpired) as error:
                raise _gone(error) from None
        if not deleted:
            raise Problem("423 Locked", "another request is writing to this upload")
        if not finished:
            self._store.discard_append("videos", upload_id.hex)
        resp.status = falcon.HTTP_204


class _Body:
    """The PATCH body as the blob store reads it: bounded, hashed, and kept when cut short.

    A client that drops the connection ends the body early (gunicorn raises OSError); the
    bytes that arrived are kept. More bytes than the upload has room for set `too_long`.
    """

    def __init__(self, stream, room: int, lock: uploads.Lock, checksum) -> None:
        self._stream = stream
        self._room = room
        self._lock = lock
        self._hasher = CHECKSUMS[checksum[0]]() if checksum else None
        self.too_long = False

    def read(self, n: int) -> bytes:
        self._lock.keep()
        try:
            data = self._stream.read(min(n, self._room + 1))
        except OSError:
            return b""
        if len(data) > self._room:
            self.too_long = True
            return b""
        self._room -= len(data)
        if self._hasher is not None:
            self._hasher.update(data)
        return data

    def digest(self) -> bytes:
        return self._hasher.digest()


def parse_metadata(header: str) -> dict[str, str]:
    """Decode `Upload-Metadata` (`key base64value` pairs, comma-separated); 400 when malformed."""
    if len(header) > _MAX_METADATA:
        raise Problem(falcon.HTTP_400, "Upload-Metadata is too long")
    pairs: dict[str, str] = {}
    for item in header.split(","):
        item = item.strip()
        if not item:
            continue
        key, _, value = item.partition(" ")
        if not _KEY.fullmatch(key) or key in pairs:
            raise Problem(falcon.HTTP_400, f"Upload-Metadata has a bad or repeated key {key!r}")
        try:
            pairs[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Problem(
                falcon.HTTP_400, f"Upload-Metadata value of {key} is not base64 of UTF-8 text"
            ) from None
    return pairs


def _metadata_header(upload: Upload) -> str:
    values = {"filename": upload.filename, **upload.fields}
    if upload.content_type:
        values["filetype"] = upload.content_type
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def _check_version(req: falcon.Request) -> None:
    if req.get_header("Tus-Resumable") != TUS_VERSION:
        raise Problem(
            falcon.HTTP_412,
            f"send Tus-Resumable: {TUS_VERSION}",
            headers={"Tus-Version": TUS_VERSION},
        )


def _number(req: falcon.Request, name: str) -> int:
    value = req.get_header(name)
    if value is None or not _NUMBER.fullmatch(value.strip()):
        raise Problem(falcon.HTTP_400, f"{name} must be a whole number of bytes")
    return int(value)


def _checksum(header: str | None) -> tuple[str, bytes] | None:
    if header is None:
        return None
    algorithm, _, value = header.strip().partition(" ")
    if algorithm not in CHECKSUMS:
        raise Problem(
            falcon.HTTP_400,
            f"Upload-Checksum algorithm must be one of {', '.join(CHECKSUMS)}",
        )
    try:
        return algorithm, base64.b64decode(value.strip(), validate=True)
    except binascii.Error:
        raise Problem(falcon.HTTP_400, "Upload-Checksum value is not base64") from None


def _find(session, upload_id: str, owner: int) -> Upload:
    try:
        return uploads.find(session, upload_id, owner)
    except (uploads.UploadGone, uploads.UploadExpired) as error:
        raise _gone(error) from None


def _gone(error: LookupError) -> Problem:
    if isinstance(error, uploads.UploadExpired):
        return Problem(falcon.HTTP_410, "this upload expired; start it again")
    return not_found("upload")
