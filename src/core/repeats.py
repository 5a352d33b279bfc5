"""Instant repeats: an upload that matches a finished job of the same user shares its MP3.

An upload's SHA-256 is computed while it streams into the store (`Job.video_sha256`). When the
same user already has a *done* job with that content and the same conversion options, the new
job is done at once: it points at the same MP3 blob (`Job.mp3_blob_id`) and copies the facts the
conversion measured. Nothing is converted or copied; its e-mail goes out as a done job's
pending e-mail does (`email_due_at`, sent by the worker's dispatcher, see core.outbox). An upload
with a webhook or its own cover image is always converted: the webhook is called by the notify
step, and the cover image's content is not part of the match.

Sharing is per user only. Across users, the time of the answer (and its state) would tell one
user that someone else had already uploaded the same file.

The MP3 blob (with its waveform) is reference-counted by the job rows themselves: deleting a job
clears its `mp3_blob_id`, commits, and deletes the blob only when no other row still points at
it (:func:`mp3_in_use`). The source row is locked (`SELECT ... FOR UPDATE`) while the repeat is
inserted, so a concurrent delete of the source either waits for the repeat's commit (and then
sees the new reference) or commits first (and the repeat finds no source and converts).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conversion.options import ConversionOptions
from core.models import Job, utcnow
from core.states import JobState

# What a repeat copies from its source: the MP3 and the facts measured while converting it.
_SHARED = (
    "mp3_blob_id",
    "mp3_size",
    "mp3_sha256",
    "mp3_duration",
    "mp3_bitrate",
    "duration",
    "media",
)


def find_source(
    session: Session, user_id: int, video_sha256: str, options: ConversionOptions
) -> Job | None:
    """Return (and lock) the user's newest done job with this content and these options.

    Found without a lock first: a locking read that matches nothing takes InnoDB's gap lock,
    and two uploads of the same user doing that at once then deadlock on their inserts. Only
    the job found is locked, by its key, and checked again.
    """
    ids = session.scalars(
        select(Job.id)
        .where(
            Job.user_id == user_id,
            Job.video_sha256 == video_sha256,
            Job.state == JobState.DONE.value,
            Job.mp3_blob_id.is_not(None),
            Job.stored_at.is_not(None),
        )
        .order_by(Job.created_at.desc())
    ).all()
    for job_id in ids:
        job = session.scalars(
            select(Job)
            .where(Job.id == job_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one_or_none()
        if (
            job is not None
            and job.state == JobState.DONE.value
            and job.mp3_blob_id is not None
            and ConversionOptions.from_dict(job.options or {}) == options
        ):
            return job
    return None


def finish_as_repeat(job: Job, source: Job) -> None:
    """Make the new, unsaved `job` done at once with `source`'s MP3."""
    for name in _SHARED:
        setattr(job, name, getattr(source, name))
    now = utcnow()
    job.state = JobState.DONE.value
    job.progress = 100.0
    job.started_at = job.converted_at = job.stored_at = job.finished_at = now
    job.enqueued_at = now  # no message is owed: nothing runs
    job.email_due_at = now  # the dispatcher sends the e-mail


def mp3_in_use(session: Session, mp3_blob_id: str) -> bool:
    """Tell whether any job still points at this MP3 blob (call after committing a release)."""
    count = session.scalar(select(func.count()).where(Job.mp3_blob_id == mp3_blob_id))
    return bool(count)
