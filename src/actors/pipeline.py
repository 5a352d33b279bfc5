"""The pipeline's actors, convert → store → notify, and the one function that enqueues them.

Messages carry a job id and nothing else. Each actor starts by claiming its step on the job row
(`core.jobs.claim`): if the step is already done, the job finished, or another worker holds a
fresh lease, the actor does nothing (or comes back when the lease would expire). So a message
delivered twice, a sweeper's extra message and a redelivery after a SIGKILL all end with one
MP3 blob and one e-mail.

Errors: a permanent one (not media, no audio, too long, bad options, video gone) fails the job
at once with the reason; anything else gives the lease back and raises, so Dramatiq retries with
backoff; when retries run out `actors.broker.RecordExhaustedJobs` fails the job with the last
error. Cancellation and lease loss are noticed within a second by the heartbeat, which also
kills ffmpeg (through the `cancel` callable of `conversion.to_mp3`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import dramatiq
from dramatiq.middleware import TimeLimitExceeded
from dramatiq.middleware.shutdown import Shutdown
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from actors.broker import set_current_token
from actors.metrics import metrics
from actors.runtime import Runtime, get_runtime
from actors.workdir import job_workdir, reap_orphans
from conversion import (
    AudioStream,
    Cancelled,
    ConversionError,
    ConversionOptions,
    MediaInfo,
    deadline_for,
    probe,
    to_mp3,
)
from conversion.ffmpeg import ffmpeg_exe, input_args
from conversion.probe import parse_probe
from conversion.process import run_ffmpeg
from core import jobs
from core.mail import (
    NotifyError,
    build_message,
    post_webhook,
    send_mail,
    webhook_secret,
)
from core.models import Job, User, utcnow
from core.settings import Settings
from core.states import JobState, Step
from core.storage import BlobNotFound, StorageError

log = logging.getLogger(__name__)

STEPS = (Step.CONVERT, Step.STORE, Step.NOTIFY)
# The stored MP3 may differ from the expected length by this much (encoder delay, padding).
DURATION_TOLERANCE = (1.0, 0.02)  # seconds, fraction


class LeaseLost(Exception):
    """The job was cancelled or taken over by another worker; stop quietly."""


# -- enqueueing --------------------------------------------------------------------------------


def enqueue_pipeline(job_id: str, from_step: Step = Step.CONVERT) -> None:
    """Enqueue the job's pipeline from `from_step` to the end (upload, retry and sweeper use it).

    Call it only after the job row is committed, so a worker never looks for a missing row.
    """
    broker = dramatiq.get_broker()
    messages = [
        broker.get_actor(step.value).message_with_options(args=(job_id,), pipe_ignore=True)
        for step in STEPS[STEPS.index(Step(from_step)) :]
    ]
    dramatiq.pipeline(messages, broker=broker).run()


def declare(broker: dramatiq.Broker, settings: Settings) -> None:
    """Declare the three actors on `broker` with the queue names and limits from `settings`."""
    # Dramatiq's TimeLimit is only a backstop: the conversion's own deadline comes first.
    long_limit = int((settings.max_duration_seconds + 3600) * 1000)
    for fn, queue, options in (
        (convert, settings.video_queue, {"notify_shutdown": True, "time_limit": long_limit}),
        (store, settings.video_queue, {"notify_shutdown": True, "time_limit": long_limit}),
        (notify, settings.mp3_queue, {"time_limit": 15 * 60 * 1000}),
    ):
        dramatiq.actor(fn, actor_name=fn.__name__, queue_name=queue, broker=broker, **options)


# -- the lease held while a step runs ----------------------------------------------------------


class Lease:
    """The claim on one step of one job, refreshed about once a second while work goes on."""

    def __init__(self, rt: Runtime, session: Session, job_id: str, step: Step, token: int) -> None:
        self.rt = rt
        self.session = session
        self.job_id = job_id
        self.step = step
        self.token = token
        self.interval = min(1.0, rt.lease_seconds / 5)
        self._last_beat = time.monotonic()
        self._last_ok = self._last_beat
        self._progress: float | None = None
        self._lost = False

    def progress(self, percent: float) -> None:
        """Remember the progress; the next heartbeat writes it (ffmpeg reports twice a second)."""
        self._progress = min(99.0, percent)
        self.lost()

    def lost(self) -> bool:
        """Heartbeat if due; tell whether the lease is gone (the `cancel` callable of ffmpeg)."""
        now = time.monotonic()
        if self._lost or now - self._last_beat < self.interval:
            return self._lost
        self._last_beat = now
        try:
            held = jobs.heartbeat(self.session, self.job_id, self.step, self.token, self._progress)
        except SQLAlchemyError:
            self.session.rollback()
            # A short database outage must not kill a long conversion; a long one must, since
            # another worker may take the job over once the lease has expired.
            if now - self._last_ok > self.rt.lease_seconds * 0.6:
                raise
            log.warning("job %s: heartbeat failed; the database may be down", self.job_id)
            return False
        self._last_ok = now
        self._lost = not held
        return self._lost

    def check(self) -> None:
        """Raise LeaseLost if the lease is gone (checked between the steps' phases)."""
        self._last_beat = 0.0
        if self.lost():
            raise LeaseLost()

    def beating(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """Pass `chunks` through, heart-beating (and stopping if the lease is lost) on the way."""
        for chunk in chunks:
            if self.lost():
                raise LeaseLost()
            yield chunk


def _download(rt: Runtime, lease: Lease, bucket: str, blob_id: str, path: Path) -> None:
    """Stream a blob into `path` (never into memory), heart-beating between chunks."""
    chunks = rt.store.open_range(bucket, blob_id)
    try:
        with path.open("wb") as out:
            for chunk in lease.beating(chunks):
                out.write(chunk)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


class _BeatingReader:
    """A file reader that heart-beats the lease while the store reads it (MP3 upload)."""

    def __init__(self, f, lease: Lease) -> None:
        self._f = f
        self._lease = lease

    def read(self, n: int = -1) -> bytes:
        if self._lease.lost():
            raise LeaseLost()
        return self._f.read(n)


def _begin(job_id: str, step: Step) -> tuple[Runtime, Session, Job, Lease] | None:
    """Claim `step` of the job for this worker; None when there is nothing to do."""
    rt = get_runtime()
    session = rt.session()
    claim = _claim(rt, session, job_id, step)
    if claim is None:
        return None
    return rt, session, claim.job, Lease(rt, session, job_id, step, claim.token)


def _claim(rt: Runtime, session: Session, job_id: str, step: Step) -> jobs.Claim | None:
    claim = jobs.claim(session, job_id, step, rt.lease_seconds)
    if claim.acquired:
        set_current_token(claim.token)
        log.info("job %s: %s started (attempt %d)", job_id, step, claim.token)
        return claim
    if claim.retry_in is not None:
        # Another delivery of this step holds a fresh lease: it runs, or its worker just died.
        # Come back when the lease would have expired; a live worker will have finished by then.
        log.info("job %s: %s is held by another worker; retrying later", job_id, step)
        raise dramatiq.Retry(delay=int(claim.retry_in * 1000) + 500)
    state = claim.job.state if claim.job is not None else "deleted"
    log.info("job %s: nothing to do for %s (job is %s)", job_id, step, state)
    return None


def _on_error(rt: Runtime, lease: Lease, error: BaseException) -> None:
    """Give the lease back after a transient error (best effort) before Dramatiq retries."""
    reason = describe_error(error)
    log.warning("job %s: %s failed, will retry: %s", lease.job_id, lease.step, reason)
    try:
        lease.session.rollback()
        jobs.release(lease.session, lease.job_id, lease.step, lease.token, reason, rt.lease_seconds)
    except Exception:
        log.warning("job %s: could not release the lease", lease.job_id, exc_info=True)


def _on_lease_lost(rt: Runtime, session: Session, job_id: str, step: Step) -> None:
    """Stop quietly; if the job was cancelled, remove an MP3 that may have just been written."""
    session.rollback()
    if jobs.is_cancelled(session, job_id):
        log.info("job %s: cancelled during %s; stopped", job_id, step)
        jobs.delete_blobs_quietly(rt.store, ("mp3s", job_id), ("videos", job_id))
    else:
        log.info("job %s: another worker took over %s; stopped", job_id, step)


def _fail(rt: Runtime, lease: Lease, reason: str) -> None:
    """Fail the job for good, unless it was cancelled (its video deleted) in the meantime."""
    lease.session.rollback()
    if not jobs.fail_step(lease.session, lease.job_id, lease.step, lease.token, reason):
        _on_lease_lost(rt, lease.session, lease.job_id, lease.step)
        return
    log.warning("job %s: %s failed for good: %s", lease.job_id, lease.step, reason)
    if lease.step is Step.CONVERT:
        metrics().jobs.labels("failed").inc()


# -- the actors --------------------------------------------------------------------------------


def convert(job_id: str) -> None:
    """Convert the job's video to an MP3 stored under the job's id in the "mp3s" bucket."""
    claimed = _begin(job_id, Step.CONVERT)
    if claimed is None:
        return
    rt, session, job, lease = claimed
    reap_orphans(rt.work_root, job_id)
    try:
        with job_workdir(rt.work_root, job_id) as workdir:
            source = workdir / "source"
            _download(rt, lease, "videos", job.video_blob_id or job_id, source)
            media = _known_media(job)
            if media is None:
                media = probe(source, cancel=lease.lost)
                jobs.record(
                    session, job_id, Step.CONVERT, lease.token,
                    duration=media.duration, media=_jsonable(media),
                )  # fmt: skip
            options = ConversionOptions.from_dict(job.options or {})
            output = workdir / "output.mp3"
            started = time.monotonic()
            result = to_mp3(
                source,
                output,
                options,
                on_progress=lease.progress,
                deadline=deadline_for(media.duration),
                cancel=lease.lost,
                max_duration=rt.settings.max_duration_seconds,
                media=media,
                fallback_title=Path(job.original_filename).stem or None,
            )
            elapsed = time.monotonic() - started
            lease.check()
            with output.open("rb") as f:
                info = rt.store.put(
                    "mp3s",
                    job_id,
                    _BeatingReader(f, lease),
                    filename=_mp3_name(job.original_filename),
                    content_type="audio/mpeg",
                    metadata={"job_id": job_id, "user_id": job.user_id},
                    replace=True,
                )
            if not jobs.advance(
                session, job_id, Step.CONVERT, lease.token,
                mp3_blob_id=job_id, mp3_size=info.size, mp3_sha256=info.sha256,
                mp3_duration=result.duration, mp3_bitrate=result.bitrate,
                progress=100.0, converted_at=utcnow(),
            ):  # fmt: skip
                raise LeaseLost()
    except (LeaseLost, Cancelled):
        _on_lease_lost(rt, session, job_id, Step.CONVERT)
        return
    except BlobNotFound:
        _fail(rt, lease, "The uploaded video is no longer available.")
        return
    except ConversionError as error:
        if error.permanent:
            _fail(rt, lease, error.reason)
            return
        metrics().jobs.labels("retried").inc()
        _on_error(rt, lease, error)
        raise
    except BaseException as error:
        _on_error(rt, lease, error)
        raise
    m = metrics()
    m.jobs.labels("converted").inc()
    m.seconds.observe(elapsed)
    if result.duration and elapsed > 0:
        m.realtime.observe(result.duration / elapsed)
    log.info(
        "job %s: converted %.1f s of audio in %.2f s (%d bytes)",
        job_id, result.duration, elapsed, info.size,
    )  # fmt: skip


def store(job_id: str) -> None:
    """Verify the stored MP3, record its facts, apply the video's retention, mark it stored."""
    claimed = _begin(job_id, Step.STORE)
    if claimed is None:
        return
    rt, session, job, lease = claimed
    try:
        with job_workdir(rt.work_root, job_id) as workdir:
            path = workdir / "check.mp3"
            blob_id = job.mp3_blob_id or job_id
            info = rt.store.info("mp3s", blob_id)
            _download(rt, lease, "mp3s", blob_id, path)
            duration, bitrate = _verify_mp3(path, _expected_duration(job), lease)
        keep = job.keep_video or rt.settings.keep_videos
        if not keep and job.video_blob_id:
            rt.store.delete("videos", job.video_blob_id)
        values = {"video_blob_id": None} if not keep else {}
        if not jobs.advance(
            session, job_id, Step.STORE, lease.token,
            mp3_size=info.size, mp3_sha256=info.sha256, mp3_duration=duration,
            mp3_bitrate=bitrate, stored_at=utcnow(), **values,
        ):  # fmt: skip
            raise LeaseLost()
    except (LeaseLost, Cancelled):
        _on_lease_lost(rt, session, job_id, Step.STORE)
        return
    except BlobNotFound:
        _forget_mp3(rt, lease)
        _fail(rt, lease, "The converted MP3 is missing from storage; retry the job.")
        return
    except ConversionError as error:
        if error.permanent:
            _forget_mp3(rt, lease)
            _fail(rt, lease, f"The converted MP3 failed its check: {error.reason}")
            return
        _on_error(rt, lease, error)
        raise
    except BaseException as error:
        _on_error(rt, lease, error)
        raise
    log.info("job %s: stored and verified (%.1f s, %d bytes)", job_id, duration, info.size)


def _forget_mp3(rt: Runtime, lease: Lease) -> None:
    """Drop a missing or bad MP3, so that retrying the job converts again."""
    jobs.delete_blobs_quietly(rt.store, ("mp3s", lease.job_id))
    lease.session.rollback()
    jobs.record(lease.session, lease.job_id, Step.STORE, lease.token, mp3_blob_id=None)


def notify(job_id: str) -> None:
    """E-mail the owner a download link (once) and call the job's webhook, then mark it done."""
    claimed = _begin(job_id, Step.NOTIFY)
    if claimed is None:
        return
    rt, session, job, lease = claimed
    errors: list[NotifyError] = []
    try:
        user = session.get(User, job.user_id)
        download_url = rt.download_url(job_id)
        if job.notified_at is None:
            errors += _send_email(rt, lease, job, user, download_url)
        if job.webhook_url:
            errors += _call_webhook(rt, job, download_url)
        transient = [e for e in errors if not e.permanent]
        if transient:
            raise transient[0]
        reason = None
        if errors:
            reason = "Notification failed: " + "; ".join(str(e) for e in errors) + "."
        if not jobs.advance(session, job_id, Step.NOTIFY, lease.token):
            raise LeaseLost()
        if reason:
            # advance() clears the reason; a permanent notification failure stays visible.
            session.execute(Job.__table__.update().where(Job.id == job_id).values(reason=reason))
            session.commit()
    except LeaseLost:
        _on_lease_lost(rt, session, job_id, Step.NOTIFY)
        return
    except BaseException as error:
        _on_error(rt, lease, error)
        raise
    log.info("job %s: done", job_id)


def _send_email(rt: Runtime, lease: Lease, job: Job, user: User, url: str) -> list[NotifyError]:
    msg = build_message(
        job_id=job.id,
        mail_from=rt.settings.mail_from,
        to=user.email,
        filename=job.original_filename,
        download_url=url,
        expires_seconds=rt.settings.download_link_ttl_seconds,
        duration=job.mp3_duration,
    )
    try:
        send_mail(rt.settings.smtp_url, msg, outbox_name=f"{job.id}.eml")
    except NotifyError as error:
        metrics().notifications.labels("email", "failed").inc()
        log.warning("job %s: e-mail not sent: %s", job.id, error)
        return [error]
    # Recorded right after the send: a redelivery sends no second e-mail. Only a crash in this
    # instant could repeat it, and the fixed Message-ID lets mail clients drop the duplicate.
    jobs.record(lease.session, job.id, Step.NOTIFY, lease.token, notified_at=utcnow())
    metrics().notifications.labels("email", "sent").inc()
    log.info("job %s: e-mail sent to its owner", job.id)
    return []


def _call_webhook(rt: Runtime, job: Job, url: str) -> list[NotifyError]:
    payload = {
        "job_id": job.id,
        "state": JobState.DONE.value,
        "download_url": url,
        "filename": _mp3_name(job.original_filename),
        "size": job.mp3_size,
        "duration": job.mp3_duration,
        "sha256": job.mp3_sha256,
    }
    secret = webhook_secret(rt.settings.signing_secret(), job.user_id)
    try:
        post_webhook(job.webhook_url, payload, secret, delivery_id=job.id)
    except NotifyError as error:
        metrics().notifications.labels("webhook", "failed").inc()
        log.warning("job %s: webhook not delivered: %s", job.id, error)
        return [error]
    metrics().notifications.labels("webhook", "sent").inc()
    return []


# -- helpers -----------------------------------------------------------------------------------


def _verify_mp3(path: Path, expected: float | None, lease: Lease) -> tuple[float, int | None]:
    """Decode the whole MP3 and check its length; return (duration, average kbit/s).

    One ffmpeg run does both: its stderr starts with the same header dump `probe` parses, and
    `-xerror` turns any decoding error into a failed run.
    """
    decoded: list[float] = []

    def on_line(line: str) -> None:
        key, _, value = line.partition("=")
        if key == "out_time_us" and value.isdigit():
            decoded.append(int(value) / 1e6)

    outcome = run_ffmpeg(
        [
            ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", "-xerror",
            "-progress", "pipe:1", *input_args(path), "-map", "0:a:0", "-f", "null", "-",
        ],
        deadline=deadline_for(expected),
        cancel=lease.lost,
        on_stdout_line=on_line,
        stderr_head=1 << 20,
        stderr_tail=4096,
    )  # fmt: skip
    media = parse_probe(outcome.stderr)
    stream = media.default_audio
    if stream is None or stream.codec != "mp3" or not media.container.startswith("mp3"):
        raise _Unverified("it is not an MP3 audio file")
    if outcome.returncode != 0:
        raise _Unverified("it does not decode")
    duration = decoded[-1] if decoded else (media.duration or 0.0)
    if expected is not None:
        seconds, fraction = DURATION_TOLERANCE
        if abs(duration - expected) > max(seconds, fraction * expected):
            raise _Unverified(f"it lasts {duration:.1f} s instead of {expected:.1f} s")
    size = path.stat().st_size
    bitrate = stream.bitrate or (round(size * 8 / duration / 1000) if duration else None)
    return duration, bitrate


class _Unverified(ConversionError):
    def __init__(self, why: str) -> None:
        super().__init__(why, permanent=True)


def _expected_duration(job: Job) -> float | None:
    """Return how long the MP3 should be: the source's audio, cut by the start/end options."""
    if job.duration is None:
        return job.mp3_duration
    options = ConversionOptions.from_dict(job.options or {})
    end = min(options.end, job.duration) if options.end is not None else job.duration
    return max(0.0, end - (options.start or 0.0))


def _mp3_name(original: str) -> str:
    return (Path(original).stem or "audio") + ".mp3"


def _jsonable(media: MediaInfo) -> dict:
    return dataclasses.asdict(media)


def _known_media(job: Job) -> MediaInfo | None:
    """Rebuild the MediaInfo stored on the job (by an earlier attempt or a probe at upload).

    It saves the convert step one ffmpeg start; anything unexpected means "probe again".
    """
    data = job.media
    if not isinstance(data, dict):
        return None
    try:
        streams = [AudioStream(**stream) for stream in data.get("audio_streams", [])]
        return MediaInfo(**{**data, "audio_streams": streams})
    except TypeError:
        return None


def describe_error(error: BaseException) -> str:
    """Return a reason a user can read for `error` (never a path, URL or traceback)."""
    if isinstance(error, ConversionError):
        return error.reason
    if isinstance(error, NotifyError):
        return f"Notification failed: {error}."
    if isinstance(error, StorageError):
        return "The file store was unavailable."
    if isinstance(error, SQLAlchemyError):
        return "The database was unavailable."
    if isinstance(error, TimeLimitExceeded):
        return "The step took too long and was stopped."
    if isinstance(error, Shutdown):
        return "The worker was stopped during the step."
    if isinstance(error, dramatiq.Retry):
        return "Another worker was still holding the job."
    return "An unexpected error occurred."
