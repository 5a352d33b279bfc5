"""Serve MP3s: by file id (the seed's route), by job, and by a signed link from the e-mail."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from urllib.parse import quote

import falcon
from sqlalchemy import select

from core.db import session_scope
from core.models import Job
from core.storage import BlobNotFound, BlobStore
from core.tokens import DOWNLOAD_AUDIENCE, InvalidToken, TokenService
from web.errors import Problem, not_found
from web.resources.jobs import visible_job

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


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

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_id: str) -> None:
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
    etag = f'"{info.sha256}"'
    resp.set_header("ETag", etag)
    resp.set_header("Accept-Ranges", "bytes")
    resp.set_header("Cache-Control", "private, max-age=0, must-revalidate")
    resp.set_header("Content-Disposition", content_disposition(job.original_filename))
    if etag in _etags(req.get_header("If-None-Match")) or req.get_header("If-None-Match") == "*":
        resp.status = falcon.HTTP_304
        return
    start, end = _byte_range(req.get_header("Range"), info.size, req.get_header("If-Range"), etag)
    resp.content_type = "audio/mpeg"
    if (start, end) != (0, info.size):
        resp.status = falcon.HTTP_206
        resp.set_header("Content-Range", f"bytes {start}-{end - 1}/{info.size}")
    resp.content_length = end - start
    if req.method != "HEAD":
        resp.stream = store.open_range("mp3s", job.mp3_blob_id, start, end)


def content_disposition(original_filename: str) -> str:
    """Return `attachment` with the upload's stem + .mp3, ASCII fallback plus RFC 5987 UTF-8."""
    stem = PurePosixPath(original_filename or "audio").stem or "audio"
    name = f"{stem}.mp3"
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _etags(header: str | None) -> set[str]:
    if not header:
        return set()
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}


def _byte_range(header: str | None, size: int, if_range: str | None, etag: str) -> tuple[int, int]:
    """Return [start, end) for a single-range request; the whole file when there is none."""
    if not header or (if_range and if_range != etag):
        return 0, size
    match = _RANGE.match(header.strip().replace(" ", ""))
    if not match or match.groups() == ("", ""):
        # Multiple or malformed ranges: RFC 9110 lets a server ignore Range and send it all.
        return 0, size
    first, last = match.groups()
    if first == "":
        start, end = max(0, size - int(last)), size
    else:
        start = int(first)
        end = size if last == "" else min(int(last) + 1, size)
    if start >= size or start >= end:
        raise Problem(
            falcon.HTTP_416,
            f"the range is outside the file's {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return start, end
