"""Accept a video upload: stream it into the blob store, create its job, then enqueue it.

The upload's SHA-256 is computed while it streams in; when the same user already has a done job
with this content and these options, the new job is done at once and shares that job's MP3
(an instant repeat, see core.repeats) and nothing is enqueued.

An optional file part `cover` (JPEG, PNG, GIF or WebP) is kept next to the video as blob
`videos/<job id>-cover` and sets the option cover=image: the convert step fetches it and the
MP3 carries it as its picture.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable
from urllib.parse import urlsplit

import falcon
from sqlalchemy import func, select, update

from conversion.errors import InvalidOptionsError
from conversion.options import ConversionOptions
from core import repeats
from core.db import session_scope
from core.job_blobs import cover_blob_id, video_blobs
from core.jobs import delete_blobs_quietly
from core.models import Job, new_job_id
from core.settings import Settings
from core.states import JobState, Step
from core.storage import BlobStore, BlobTooLarge
from web.errors import Problem
from web.links import link
from web.resources.jobs import hand_over, job_json
from web.sniff import SNIFF_BYTES, sniff_container

# Form fields next to `file` that belong to the job rather than to the conversion options.
_JOB_FIELDS = ("webhook_url", "keep_video")
_MAX_FIELD_BYTES = 4096
# Multipart framing around the file: boundaries, part headers and small option fields.
_FORM_OVERHEAD = 256 * 1024
MAX_COVER_BYTES = 10 * 1024 * 1024
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")


class UploadResource:
    """`POST /upload`: multipart field `file` plus optional conversion options → 202, the job."""

    def __init__(
        self, settings: Settings, sessions, store: BlobStore, enqueue: Callable[..., None]
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._store = store
        self._enqueue = enqueue

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        principal = req.context.principal
        if not (req.content_type or "").lower().startswith("multipart/form-data"):
            raise Problem(
                falcon.HTTP_415, "send the video as multipart/form-data with a field named file"
            )
        limit = self._settings.max_upload_bytes
        if req.content_length and req.content_length > limit + _FORM_OVERHEAD:
            raise _too_large(limit)
        remaining_quota = self._settings.user_quota_bytes - self._used_bytes(principal.id)
        if remaining_quota <= 0:
            raise _over_quota()

        job_id = new_job_id()
        fields: dict[str, str] = {}
        stored = None
        cover_image = False
        try:
            for part in req.get_media():
                if part.name == "file":
                    if stored is not None:
                        raise Problem(falcon.HTTP_400, "send exactly one field named file")
                    stored = self._store_video(
                        part, job_id, principal.id, min(limit, remaining_quota)
                    )
                elif part.name == "cover" and part.filename is not None:
                    if cover_image:
                        raise Problem(falcon.HTTP_400, "send at most one cover image")
                    self._store_cover(part, job_id, principal.id)
                    cover_image = True
                elif part.name:
                    fields[part.name] = _field_text(part)
            if stored is None:
                raise Problem(falcon.HTTP_400, "the form has no field named file")
            job = self._create_job(job_id, principal.id, stored, fields, cover_image)
        except BlobTooLarge:
            self._discard(job_id)
            if limit <= remaining_quota:
                raise _too_large(limit) from None
            raise _over_quota() from None
        except BaseException:
            # Nothing half-done survives a refused or broken upload.
            self._discard(job_id)
            raise
        if job.job_state is JobState.DONE:
            self._drop_repeat_video(job)
        else:
            hand_over(self._sessions, self._enqueue, job_id, Step.CONVERT)
        resp.status = falcon.HTTP_202
        resp.location = link(req, f"/jobs/{job_id}")
        resp.media = job_json(job, req.root_path)

    def _used_bytes(self, user_id: int) -> int:
        with session_scope(self._sessions) as session:
            used = session.scalar(
                select(
                    func.coalesce(func.sum(Job.video_size), 0)
                    + func.coalesce(func.sum(Job.mp3_size), 0)
                ).where(Job.user_id == user_id, Job.state != JobState.CANCELLED.value)
            )
        return int(used or 0)

    def _store_video(self, part, job_id: str, owner: int, max_bytes: int):
        head = _read_head(part.stream)
        if not head:
            raise Problem(falcon.HTTP_400, "the uploaded file is empty")
        container = sniff_container(head)
        if container is None:
            raise Problem(
                falcon.HTTP_415, "the file is not a video or audio file this service can read"
            )
        return self._store.put(
            "videos",
            job_id,
            _Prefixed(head, part.stream),
            filename=_display_name(part.filename),
            content_type=part.content_type,
            metadata={"owner": owner, "job_id": job_id, "container": container},
            max_bytes=max_bytes,
        )

    def _store_cover(self, part, job_id: str, owner: int) -> None:
        head = _read_head(part.stream)
        if not head.startswith(_IMAGE_MAGIC) and not (
            head[:4] == b"RIFF" and head[8:12] == b"WEBP"
        ):
            raise Problem(
                falcon.HTTP_422,
                "invalid option cover: upload a JPEG, PNG, GIF or WebP image",
                field="cover",
            )
        try:
            self._store.put(
                "videos",
                cover_blob_id(job_id),
                _Prefixed(head, part.stream),
                filename=_display_name(part.filename),
                content_type=part.content_type,
                metadata={"owner": owner, "job_id": job_id, "kind": "cover"},
                max_bytes=MAX_COVER_BYTES,
            )
        except BlobTooLarge:
            raise Problem(
                falcon.HTTP_413,
                f"the cover image is larger than the limit of {MAX_COVER_BYTES} bytes",
                limit=MAX_COVER_BYTES,
            ) from None

    def _create_job(
        self, job_id: str, owner: int, stored, fields: dict[str, str], cover_image: bool
    ) -> Job:
        job_fields = {name: fields.pop(name) for name in _JOB_FIELDS if name in fields}
        if cover_image and "cover" in fields:
            raise Problem(
                falcon.HTTP_422,
                "invalid option cover: send auto or none, or an image file, not both",
                field="cover",
            )
        try:
            options = ConversionOptions.from_form(fields)
            if cover_image:
                options = dataclasses.replace(options, cover="image")
        except InvalidOptionsError as error:
            raise Problem(
                falcon.HTTP_422, f"invalid option {error.field}: {error.message}", field=error.field
            ) from None
        job = Job(
            id=job_id,
            user_id=owner,
            state=JobState.QUEUED.value,
            original_filename=stored.filename,
            content_type=stored.content_type,
            video_blob_id=job_id,
            video_size=stored.size,
            video_sha256=stored.sha256,
            options=options.to_dict(),
            keep_video=_parse_bool("keep_video", job_fields.get("keep_video"))
            if "keep_video" in job_fields
            else self._settings.keep_videos,
            webhook_url=_parse_webhook(job_fields.get("webhook_url")),
        )
        with session_scope(self._sessions) as session:
            # An upload with its own cover image or a webhook is always converted.
            if not cover_image and job.webhook_url is None:
                source = repeats.find_source(session, owner, stored.sha256, options)
                if source is not None:
                    repeats.finish_as_repeat(job, source)
            session.add(job)
        return job

    def _drop_repeat_video(self, job: Job) -> None:
        """Delete an instant repeat's video unless it is kept, as the store step would."""
        if job.keep_video or self._settings.keep_videos:
            return
        with session_scope(self._sessions) as session:
            session.execute(update(Job).where(Job.id == job.id).values(video_blob_id=None))
        delete_blobs_quietly(self._store, *video_blobs(job.id))
        job.video_blob_id = None

    def _discard(self, job_id: str) -> None:
        """Delete what a refused or broken upload stored: the video and the cover image."""
        for bucket, blob_id in video_blobs(job_id):
            self._store.delete(bucket, blob_id)


class _Prefixed:
    """A reader that yields already-read `head` bytes before the rest of `stream`."""

    def __init__(self, head: bytes, stream) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0 or size >= len(self._head):
                chunk, self._head = self._head, b""
                return chunk
            chunk, self._head = self._head[:size], self._head[size:]
            return chunk
        return self._stream.read(size)


def _read_head(stream) -> bytes:
    head = b""
    while len(head) < SNIFF_BYTES:
        chunk = stream.read(SNIFF_BYTES - len(head))
        if not chunk:
            break
        head += chunk
    return head


def _field_text(part) -> str:
    data = part.stream.read(_MAX_FIELD_BYTES + 1)
    if len(data) > _MAX_FIELD_BYTES:
        raise Problem(falcon.HTTP_422, f"form field {part.name} is too long", field=part.name)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise Problem(
            falcon.HTTP_422, f"form field {part.name} is not UTF-8 text", field=part.name
        ) from None


_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


def _display_name(filename: str | None) -> str:
    """Keep the client's name for display only: no directories, no control characters."""
    name = unicodedata.normalize("NFC", filename or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("", name).strip().lstrip(".")
    return name[:255] or "upload"


def _parse_bool(name: str, value: str | None) -> bool:
    lowered = (value or "").strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("", "0", "false", "no", "off"):
        return False
    raise Problem(falcon.HTTP_422, f"invalid option {name}: expected true or false", field=name)


def _parse_webhook(value: str | None) -> str | None:
    if not value or not value.strip():
        return None
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2048:
        raise Problem(
            falcon.HTTP_422,
            "invalid option webhook_url: expected an http(s) URL",
            field="webhook_url",
        )
    return url


def _too_large(limit: int) -> Problem:
    return Problem(
        falcon.HTTP_413, f"the file is larger than the limit of {limit} bytes", limit=limit
    )


def _over_quota() -> Problem:
    return Problem(
        falcon.HTTP_429,
        "your storage quota is used up; delete old jobs to make room",
        headers={"Retry-After": "3600"},
    )
