"""The convert step: turn the job's video into an MP3 stored under the job's id.

ffmpeg reads the video where it lies when the store can say where (the folder store), and from
a private temp copy otherwise (GridFS). The media facts come from the job row when an earlier
attempt found them, else from one header probe; the conversion's own measurements (duration,
size, sha256 while storing) are what the store step checks, so the MP3 is never decoded twice.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from actors.errors import StepFailed
from actors.lease import Lease
from actors.runtime import Runtime
from actors.workdir import job_workdir, reap_orphans
from conversion import ConversionError, ConversionOptions, MediaInfo, deadline_for, probe, to_mp3
from core.models import Job, utcnow
from core.storage import BlobNotFound

log = logging.getLogger(__name__)


def convert(rt: Runtime, lease: Lease) -> dict[str, Any]:
    """Convert and store the MP3; return the facts the job row gets when the step advances."""
    job = lease.job
    reap_orphans(rt.work_root, job.id)
    facts: dict[str, Any] = {}
    try:
        with job_workdir(rt.work_root, job.id) as workdir:
            source = _source(rt, lease, job, workdir)
            media = _known_media(job)
            if media is None:
                media = probe(source, cancel=lease.should_stop)
                facts.update(duration=media.duration, media=media.to_dict())
            output = workdir / "output.mp3"
            started = time.monotonic()
            result = to_mp3(
                source,
                output,
                ConversionOptions.from_dict(job.options or {}),
                on_progress=lease.progress,
                deadline=deadline_for(media.duration),
                cancel=lease.should_stop,
                max_duration=rt.settings.max_duration_seconds,
                media=media,
                fallback_title=Path(job.original_filename).stem or None,
            )
            elapsed = time.monotonic() - started
            lease.check()
            with output.open("rb") as f:
                info = rt.store.put(
                    "mp3s",
                    job.id,
                    lease.reader(f),
                    filename=mp3_name(job.original_filename),
                    content_type="audio/mpeg",
                    metadata={"job_id": job.id, "user_id": job.user_id},
                    replace=True,
                )
    except BlobNotFound:
        raise StepFailed("The uploaded video is no longer available.") from None
    except ConversionError as error:
        if error.permanent:
            raise StepFailed(error.reason) from None
        raise
    rt.metrics.seconds.observe(elapsed)
    if result.duration and elapsed > 0:
        rt.metrics.realtime.observe(result.duration / elapsed)
    log.info(
        "job %s: converted %.1f s of audio in %.2f s (%d bytes)",
        job.id, result.duration, elapsed, info.size,
    )  # fmt: skip
    return {
        **facts,
        "mp3_blob_id": job.id,
        "mp3_size": info.size,
        "mp3_sha256": info.sha256,
        "mp3_duration": result.duration,
        "mp3_bitrate": result.bitrate,
        "progress": 100.0,
        "converted_at": utcnow(),
    }


def _source(rt: Runtime, lease: Lease, job: Job, workdir: Path) -> Path:
    """Return a path ffmpeg can read the video from: the blob itself, or a temp copy of it."""
    blob_id = job.video_blob_id or job.id
    path = rt.store.local_path("videos", blob_id)
    if path is not None:
        return path
    copy = workdir / "source"
    rt.store.copy_to_file("videos", blob_id, copy, on_chunk=lease.ensure_held)
    return copy


def _known_media(job: Job) -> MediaInfo | None:
    """Rebuild the media facts stored on the job; anything unexpected means "probe again"."""
    if not isinstance(job.media, dict):
        return None
    try:
        return MediaInfo.from_dict(job.media)
    except (KeyError, TypeError):
        return None


def mp3_name(original: str) -> str:
    """Return the MP3's file name: the upload's stem + .mp3."""
    return (Path(original).stem or "audio") + ".mp3"
