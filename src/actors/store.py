"""The store step: check the stored MP3 against what the conversion measured, apply retention.

The check reads no audio: the blob must be in the store with the size and SHA-256 the convert
step wrote while streaming it in, and the duration ffmpeg reported while encoding must match
the source's (cut by the start/end options) within the encoder's padding. A missing or
mismatching MP3 is forgotten, so that retrying the job converts again.
"""

from __future__ import annotations

import logging
from typing import Any

from actors.errors import StepFailed
from actors.lease import Lease
from actors.runtime import Runtime
from conversion import ConversionOptions
from core.job_blobs import mp3_blobs, video_blobs
from core.jobs import delete_blobs_quietly
from core.models import Job, utcnow
from core.storage import BlobNotFound

log = logging.getLogger(__name__)

# The MP3 may differ from the expected length by this much (encoder delay, padding).
DURATION_TOLERANCE = (1.0, 0.02)  # seconds, fraction


def store(rt: Runtime, lease: Lease) -> dict[str, Any]:
    """Verify the MP3, delete the video unless kept; return what the job row gets."""
    job = lease.job
    blob_id = job.mp3_blob_id or job.id
    try:
        info = rt.store.info("mp3s", blob_id)
    except BlobNotFound:
        raise _forget(
            rt, job, "The converted MP3 is missing from storage; retry the job."
        ) from None
    problem = mp3_problem(job, info.size, info.sha256)
    if problem is not None:
        raise _forget(rt, job, f"The converted MP3 failed its check: {problem}")
    values: dict[str, Any] = {"stored_at": utcnow()}
    if not (job.keep_video or rt.settings.keep_videos) and job.video_blob_id:
        for bucket, blob_id in video_blobs(job.id, job.video_blob_id):
            rt.store.delete(bucket, blob_id)
        values["video_blob_id"] = None
    log.info("job %s: stored and verified (%.1f s, %d bytes)", job.id, job.mp3_duration, info.size)
    return values


def mp3_problem(job: Job, size: int, sha256: str) -> str | None:
    """Return what is wrong with the stored MP3 (as a user reads it), or None when it is right."""
    if not size or size != job.mp3_size or sha256 != job.mp3_sha256:
        return "it is not the file the conversion wrote"
    expected = expected_duration(job)
    duration = job.mp3_duration or 0.0
    if expected is not None:
        seconds, fraction = DURATION_TOLERANCE
        if abs(duration - expected) > max(seconds, fraction * expected):
            return f"it lasts {duration:.1f} s instead of {expected:.1f} s"
    return None


def expected_duration(job: Job) -> float | None:
    """Return how long the MP3 should be: the source's audio, cut by the start/end options."""
    if job.duration is None:
        return None
    options = ConversionOptions.from_dict(job.options or {})
    end = min(options.end, job.duration) if options.end is not None else job.duration
    return max(0.0, end - (options.start or 0.0))


def _forget(rt: Runtime, job: Job, reason: str) -> StepFailed:
    """Drop a missing or bad MP3 and return the failure that records it gone."""
    delete_blobs_quietly(rt.store, *mp3_blobs(job.mp3_blob_id or job.id))
    return StepFailed(reason, mp3_blob_id=None)
