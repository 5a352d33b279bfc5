"""Turn a stored video into a job: one entry point for every way a video arrives.

`POST /upload` (multipart) and the resumable tus uploads both end here: `parse` checks the job's
fields (conversion options, `keep_video`, `webhook_url`) into a `JobRequest`, and
`create_job_from_blob` writes the job row for a video already in the blob store, then hands the
committed job to the pipeline (an instant repeat is committed done instead, see core.repeats).
The quota and size refusals they share live here too.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable
from urllib.parse import urlsplit

import falcon
from sqlalchemy import bindparam, func, select, update

from conversion.errors import InvalidOptionsError
from conversion.options import ConversionOptions
from core import repeats
from core.db import reading, session_scope
from core.job_blobs import video_blobs
from core.jobs import delete_blobs_quietly
from core.models import Job
from core.settings import Settings
from core.states import JobState, Step
from core.storage import BlobInfo, BlobStore
from web.errors import Problem
from web.resources.jobs import hand_over

# Fields next to the video that belong to the job rather than to the conversion options.
JOB_FIELDS = ("webhook_url", "keep_video")

# Built once, run on every upload: the bytes a user's jobs hold (videos and MP3s).
_BYTES_STORED = select(
    func.coalesce(func.sum(Job.video_size), 0) + func.coalesce(func.sum(Job.mp3_size), 0)
).where(Job.user_id == bindparam("user_id"), Job.state != JobState.CANCELLED.value)


@dataclasses.dataclass(frozen=True)
class JobRequest:
    """What the uploader asked for, checked: the options and the job's own settings."""

    options: ConversionOptions
    keep_video: bool
    webhook_url: str | None


class UploadJobs:
    """Make jobs from uploaded videos; see the module docstring."""

    def __init__(
        self, settings: Settings, sessions, store: BlobStore, enqueue: Callable[..., None]
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._store = store
        self._enqueue = enqueue

    def parse(self, fields: dict[str, str], cover_image: bool = False) -> JobRequest:
        """Check the upload's fields; a 422 problem names the first bad one."""
        fields = dict(fields)
        job_fields = {name: fields.pop(name) for name in JOB_FIELDS if name in fields}
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
        keep_video = self._settings.keep_videos
        if "keep_video" in job_fields:
            keep_video = _parse_bool("keep_video", job_fields["keep_video"])
        return JobRequest(options, keep_video, _parse_webhook(job_fields.get("webhook_url")))

    def create_job_from_blob(
        self, job_id: str, owner: int, stored: BlobInfo, request: JobRequest
    ) -> Job:
        """Commit the job of the video blob `videos/<job_id>`, then enqueue it; return it.

        An instant repeat (the same content and options as a done job of the same owner, see
        `core.repeats`) is committed done, sharing that job's MP3, and nothing is enqueued.
        If the row cannot be written, the video (and its cover) are deleted.
        """
        job = Job(
            id=job_id,
            user_id=owner,
            state=JobState.QUEUED.value,
            original_filename=stored.filename,
            content_type=stored.content_type,
            video_blob_id=job_id,
            video_size=stored.size,
            video_sha256=stored.sha256,
            options=request.options.to_dict(),
            keep_video=request.keep_video,
            webhook_url=request.webhook_url,
        )
        try:
            with session_scope(self._sessions) as session:
                # An upload with its own cover image or a webhook is always converted.
                if request.options.cover != "image" and job.webhook_url is None:
                    source = repeats.find_source(session, owner, stored.sha256, request.options)
                    if source is not None:
                        repeats.finish_as_repeat(job, source)
                session.add(job)
        except BaseException:
            self.discard(job_id)
            raise
        if job.job_state is JobState.DONE:
            self._drop_repeat_video(job)
        else:
            hand_over(self._sessions, self._enqueue, job_id, Step.CONVERT)
        return job

    def _drop_repeat_video(self, job: Job) -> None:
        """Delete an instant repeat's video unless it is kept, as the store step would."""
        if job.keep_video or self._settings.keep_videos:
            return
        with session_scope(self._sessions) as session:
            session.execute(update(Job).where(Job.id == job.id).values(video_blob_id=None))
        delete_blobs_quietly(self._store, *video_blobs(job.id))
        job.video_blob_id = None

    def discard(self, job_id: str) -> None:
        """Delete what a refused or broken upload stored: the video and the cover image."""
        for bucket, blob_id in video_blobs(job_id):
            self._store.delete(bucket, blob_id)

    def remaining_quota(self, user_id: int) -> int:
        """Return how many bytes the user may still store (≤ 0: none)."""
        with reading(self._sessions) as connection:
            used = connection.execute(_BYTES_STORED, {"user_id": user_id}).scalar()
        return self._settings.user_quota_bytes - int(used or 0)


_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


def display_name(filename: str | None) -> str:
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


def too_large(limit: int) -> Problem:
    return Problem(
        falcon.HTTP_413, f"the file is larger than the limit of {limit} bytes", limit=limit
    )


def over_quota() -> Problem:
    return Problem(
        falcon.HTTP_429,
        "your storage quota is used up; delete old jobs to make room",
        headers={"Retry-After": "3600"},
    )
