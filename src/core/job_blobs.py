"""Name the extra blobs of a job, derived from its id so that writing twice replaces.

The video is `videos/<job id>` and the MP3 `mp3s/<job id>`; next to them live the cover image
uploaded with the job (:func:`cover_blob_id`, in "videos") and the waveform peaks of the MP3
(:func:`waveform_blob_id`, in "mp3s", named after the MP3 blob). Whoever deletes a job's video or
MP3 deletes these too: :func:`video_blobs` and :func:`mp3_blobs` name each group whole. An
instant repeat (see :mod:`core.repeats`) shares another job's MP3 blob and its waveform, so the
MP3 group is named by the MP3 blob id, which is the id of the job that converted it.
"""

from __future__ import annotations


def cover_blob_id(job_id: str) -> str:
    """Return the id, in the "videos" bucket, of the cover image uploaded with a job."""
    return f"{job_id}-cover"


def waveform_blob_id(mp3_blob_id: str) -> str:
    """Return the id, in the "mp3s" bucket, of the waveform peaks (JSON) of an MP3 blob."""
    return f"{mp3_blob_id}-waveform"


def video_blobs(job_id: str, video_blob_id: str | None = None) -> list[tuple[str, str]]:
    """Return the (bucket, id) pairs of a job's video and of the cover uploaded with it."""
    return [("videos", video_blob_id or job_id), ("videos", cover_blob_id(job_id))]


def mp3_blobs(mp3_blob_id: str) -> list[tuple[str, str]]:
    """Return the (bucket, id) pairs of an MP3 blob and of its waveform peaks."""
    return [("mp3s", mp3_blob_id), ("mp3s", waveform_blob_id(mp3_blob_id))]
