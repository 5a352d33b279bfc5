"""The notify step: e-mail the owner a signed download link (once) and call the job's webhook.

The e-mail is recorded as sent right after the send, so a redelivery (a webhook that failed and
is retried) sends no second one; only a crash in that instant could repeat it, and the fixed
Message-ID lets mail clients drop the duplicate. A notification that fails for good (a refused
address, a webhook answering 4xx) never fails the job: it ends done, the reason saying what
could not be notified. A webhook's transient failure raises, and Dramatiq retries the step.

An e-mail the mail server cannot take now does not hold the job back: the job ends done with
its e-mail pending (`email_due_at`), and the worker's dispatcher calls `resend_email` when it is
due, with a growing delay, for NOTIFY_RETRY_HOURS (see core.outbox for "never twice").
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from actors.convert import mp3_name
from actors.lease import Lease
from actors.runtime import Runtime
from core import outbox
from core.mail import NotifyError, build_message, post_webhook, send_mail, webhook_secret
from core.models import Job, utcnow
from core.states import JobState

log = logging.getLogger(__name__)


def notify(rt: Runtime, lease: Lease) -> dict[str, Any]:
    """Send what is not sent yet; return what the job row gets when the step advances."""
    job = lease.job
    url = rt.download_url(job.id)
    values: dict[str, Any] = {}
    errors: list[NotifyError] = []
    if job.notified_at is None:
        try:
            _send_email(rt, job, url)
        except NotifyError as error:
            if error.permanent:
                errors.append(error)
            else:
                delay = rt.settings.retry_min_backoff_ms / 1000
                values["email_due_at"] = utcnow() + dt.timedelta(seconds=delay)
        else:
            values["notified_at"] = utcnow()
            if job.webhook_url:
                # The webhook may fail and be retried: the e-mail must stay sent.
                lease.record(**values)
    if job.webhook_url:
        try:
            _call_webhook(rt, job, url)
        except NotifyError as error:
            errors.append(error)
    transient = [e for e in errors if not e.permanent]
    if transient:
        raise transient[0]
    if errors:
        values["reason"] = "Notification failed: " + "; ".join(str(e) for e in errors) + "."
    return values


def resend_email(rt: Runtime, job_id: str, due_at: dt.datetime) -> None:
    """Try a done job's pending e-mail once, if no other sender took it; record the outcome."""
    with rt.sessions() as session:
        job = outbox.take_email(session, job_id, due_at)
        if job is None:
            return
        try:
            _send_email(rt, job, rt.download_url(job.id))
        except NotifyError as error:
            if error.permanent or outbox.email_window_over(job, rt.settings.notify_retry_hours):
                outbox.email_given_up(session, job_id, f"Notification failed: {error}.")
                log.warning("job %s: e-mail given up: %s", job_id, error)
                return
            delay = outbox.retry_delay(
                outbox.elapsed_since_finished(job),
                rt.settings.retry_min_backoff_ms / 1000,
                rt.settings.retry_max_backoff_ms / 1000,
            )
            outbox.email_retry_later(session, job_id, delay)
            return
        outbox.email_sent(session, job_id)


def _send_email(rt: Runtime, job: Job, url: str) -> None:
    msg = build_message(
        job_id=job.id,
        mail_from=rt.settings.mail_from,
        to=job.user.email,
        filename=job.original_filename,
        download_url=url,
        expires_seconds=rt.settings.download_link_ttl_seconds,
        duration=job.mp3_duration,
    )
    try:
        send_mail(rt.settings.smtp_url, msg, outbox_name=f"{job.id}.eml")
    except NotifyError as error:
        rt.metrics.notifications.labels("email", "failed").inc()
        log.warning("job %s: e-mail not sent: %s", job.id, error)
        raise
    rt.metrics.notifications.labels("email", "sent").inc()
    log.info("job %s: e-mail sent to its owner", job.id)


def _call_webhook(rt: Runtime, job: Job, url: str) -> None:
    payload = {
        "job_id": job.id,
        "state": JobState.DONE.value,
        "download_url": url,
        "filename": mp3_name(job.original_filename),
        "size": job.mp3_size,
        "duration": job.mp3_duration,
        "sha256": job.mp3_sha256,
    }
    secret = webhook_secret(rt.settings.signing_secret(), job.user_id)
    try:
        post_webhook(job.webhook_url, payload, secret, delivery_id=job.id)
    except NotifyError as error:
        rt.metrics.notifications.labels("webhook", "failed").inc()
        log.warning("job %s: webhook not delivered: %s", job.id, error)
        raise
    rt.metrics.notifications.labels("webhook", "sent").inc()
