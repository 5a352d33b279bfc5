"""The convert step: turn the job's video into an MP3 stored under the job's id.

ffmpeg reads the video where it lies when the store can say where (the folder store), and from
a private temp copy otherwise (GridFS). The media facts come from the job row when an earlier
attempt found them, else from one header probe; the conversion's own measurements (duration,
size, sha256 while storing) are what the store step checks, so the MP3 is never decoded twice.
The duration limit and the job's duration go by the audio decoded, not by what the container
states: a header may claim ten hours for two seconds of data, or the reverse.
The same ffmpeg run writes the waveform's PCM next to the MP3 (and, for a short video, the
candidate keyframes of its cover still: no second process reads the video); the peaks are stored
right after the MP3 (a failure there costs the player its picture, never the job). A cover image
uploaded with the job (option cover=image) is copied into the work folder first.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from actors.errors import StepFailed, describe_error
from actors.lease import Lease
from actors.runtime import Runtime
from actors.workdir import job_workdir, reap_orphans
from conversion import ConversionError, ConversionOptions, MediaInfo, deadline_for, probe, to_mp3
from core.job_blobs import cover_blob_id
from core.models import Job, utcnow
from core.storage import BlobNotFound
from core.waveforms import store_waveform

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
            options = ConversionOptions.from_dict(job.options or {})
            output = workdir / "output.mp3"
            waveform_pcm = workdir / "waveform.pcm"
            cover_image = _cover_image(rt, lease, job, workdir, options)
            limit = rt.settings.max_duration_seconds
            # Decoding stops at the limit, whatever duration the container states.
            decoded = None if media.duration is None else min(media.duration, limit)
            started = time.monotonic()
            result = to_mp3(
                source,
                output,
                options,
                on_progress=lease.progress,
                deadline=deadline_for(decoded),
                cancel=lease.should_stop,
                max_duration=limit,
                media=media,
                fallback_title=Path(job.original_filename).stem or None,
                cover_image=cover_image,
                waveform_pcm=waveform_pcm,
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
            _store_waveform(rt, job.id, waveform_pcm)
    except BlobNotFound:
        raise StepFailed("The uploaded video is no longer available.") from None
    except ConversionError as error:
        if error.permanent:
            raise StepFailed(error.reason) from None
        raise
    if options.end is None and not result.copied_stream:
        # Decoded to the end: that is the media's length, whatever its container states.
        decoded = (options.start or 0.0) + result.duration
        if media.duration is not None and abs(decoded - media.duration) > 1.0:
            log.info(
                "job %s: the container states %.1f s, its audio lasts %.1f s",
                job.id, media.duration, decoded,
            )  # fmt: skip
        facts["duration"] = decoded
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


def _cover_image(
    rt: Runtime, lease: Lease, job: Job, workdir: Path, options: ConversionOptions
) -> Path | None:
    """Copy the cover image uploaded with the job into `workdir`; None when there is none."""
    if options.cover != "image":
        return None
    path = workdir / "cover"
    try:
        rt.store.copy_to_file("videos", cover_blob_id(job.id), path, on_chunk=lease.ensure_held)
    except BlobNotFound:
        log.warning("job %s: the uploaded cover image is gone; converting without it", job.id)
        return None
    return path


def _store_waveform(rt: Runtime, job_id: str, pcm: Path) -> None:
    """Store the waveform peaks; a failure logs one line and never fails the job."""
    try:
        store_waveform(rt.store, job_id, pcm)
    except Exception as error:
        log.warning("job %s: no waveform: %s", job_id, describe_error(error))


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
