"""Serve MP3s: by file id (the seed's route), by job, and by a signed link from the e-mail."""

from __future__ import annotations

import uuid
from pathlib import PurePosixPath

import falcon
from sqlalchemy import select

from core.db import session_scope
from core.models import Job
from core.storage import BlobNotFound, BlobStore
from core.tokens import DOWNLOAD_AUDIENCE, InvalidToken, TokenService
from web.errors import Problem, not_found
from web.resources.jobs import visible_job


class DownloadByFileResource:
    """`GET /download?fid=<id>`: the seed's download route."""

    def __init__(self, sessions, store: BlobStore) -> None:
        self._sessions = sessions
        self._store = store

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        fid = req.get_param("fid")
        if not fid:
            raise Problem(falcon.HTTP_400, "query parameter fid is required")
        principal = req.context.principal
        with session_scope(self._sessions) as session:
            # The fid is the job's id (its MP3's id unless it is an instant repeat); a deleted
            # job's fid still finds a repeat that shares its MP3.
            job = session.get(Job, fid)
            if job is None or job.mp3_blob_id is None:
                job = session.scalars(select(Job).where(Job.mp3_blob_id == fid)).first()
            if job is None or not (principal.is_admin or job.user_id == principal.id):
                raise not_found("file")
        send_mp3(req, resp, self._store, job)

    on_head = on_get


class JobMp3Resource:
    """`GET /jobs/{id}/mp3`: the job's MP3."""

    def __init__(self, sessions, store: BlobStore) -> None:
        self._sessions = sessions
        self._store = store

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID) -> None:
        with session_scope(self._sessions) as session:
            job = visible_job(session, req.context.principal, job_id)
        send_mp3(req, resp, self._store, job)

    on_head = on_get


class SignedLinkResource:
    """`GET /d/{token}`: the e-mailed link; works in a browser without a bearer header."""

    auth_required = False

    def __init__(self, sessions, store: BlobStore, tokens: TokenService) -> None:
        self._sessions = sessions
        self._store = store
        self._tokens = tokens

    def on_get(self, req: falcon.Request, resp: falcon.Response, token: str) -> None:
        try:
            claims = self._tokens.verify(token, audience=DOWNLOAD_AUDIENCE)
        except InvalidToken as error:
            raise Problem(falcon.HTTP_401, f"download link is not valid: {error.reason}") from None
        with session_scope(self._sessions) as session:
            job = session.get(Job, claims["sub"])
            if job is None:
                raise not_found("file")
        send_mp3(req, resp, self._store, job)

    on_head = on_get


def send_mp3(req: falcon.Request, resp: falcon.Response, store: BlobStore, job: Job) -> None:
    """Stream the job's MP3 with ETag, Range and a download name derived from the upload's."""
    if not job.mp3_blob_id or job.stored_at is None:
        raise Problem(falcon.HTTP_404, f"the MP3 is not ready yet (job is {job.state})")
    try:
        info = store.info("mp3s", job.mp3_blob_id)
    except BlobNotFound:
        raise not_found("file") from None
    resp.etag = info.sha256
    resp.accept_ranges = "bytes"
    resp.cache_control = ["private", "max-age=0", "must-revalidate"]
    resp.downloadable_as = download_name(job.original_filename)
    if _matches(req.if_none_match, info.sha256):
        resp.status = falcon.HTTP_304
        return
    start, end = _byte_range(req, info.size, info.sha256)
    resp.content_type = "audio/mpeg"
    if (start, end) != (0, info.size):
        resp.status = falcon.HTTP_206
        resp.content_range = (start, end - 1, info.size)
    resp.content_length = end - start
    if req.method != "HEAD":
        resp.stream = store.open_range("mp3s", job.mp3_blob_id, start, end)


def download_name(original_filename: str) -> str:
    """Return the upload's stem + .mp3, without the quotes and backslashes that would end or
    escape Falcon's quoted `filename="..."` (it writes ASCII names as they are)."""
    stem = PurePosixPath(original_filename or "audio").stem or "audio"
    name = f"{stem}.mp3"
    return "".join("_" if c in '"\\' or ord(c) < 32 or ord(c) == 127 else c for c in name)


def _matches(tags, sha256: str) -> bool:
    # Weak comparison, as RFC 9110 asks for If-None-Match; "*" matches any existing file.
    return bool(tags) and any(tag == "*" or tag == sha256 for tag in tags)


def _byte_range(req: falcon.Request, size: int, sha256: str) -> tuple[int, int]:
    """Return [start, end) for a single-range request; the whole file when there is none."""
    if_range = req.get_header("If-Range")
    if if_range and if_range.strip('"') != sha256:
        return 0, size
    try:
        requested = req.range
    except falcon.HTTPInvalidHeader:
        # Multiple or malformed ranges: RFC 9110 lets a server ignore Range and send it all.
        return 0, size
    if requested is None or req.range_unit != "bytes":
        return 0, size
    first, last = requested
    if first < 0:  # "bytes=-N": the last N bytes
        start, end = max(0, size + first), size
    else:
        start, end = first, size if last < 0 else min(last + 1, size)
    if start >= size or start >= end:
        raise Problem(
            falcon.HTTP_416,
            f"the range is outside the file's {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return start, end
