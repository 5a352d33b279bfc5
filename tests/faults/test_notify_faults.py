"""E-mails outlast a mail server outage: every one arrives once the server is back, never twice.

The workers' SMTP goes through a fault proxy in front of a real aiosmtpd. Jobs that finish
while it is cut end done with their e-mail pending (the job JSON says so); two workers'
dispatchers then race to send the due e-mails, and each arrives exactly once after restore.
"""

from __future__ import annotations

import time

import requests

from faultproxy import HUNG, login

OUTAGE = 20  # seconds the mail server stays cut


def test_every_email_arrives_once_after_an_smtp_outage(rig, start_web):
    web = start_web(**rig.env)
    auth = login(web, rig.user)
    rig.start_worker()
    rig.start_worker()
    rig.smtp.cut()
    cut_at = time.monotonic()
    ids = rig.submit(6)

    def all_done_pending() -> bool:
        jobs = rig.jobs(ids).values()
        return len(jobs) == 6 and all(j.state == "done" and j.email_due_at for j in jobs)

    rig.wait(all_done_pending, 90, "every job done with its e-mail pending")
    answer = requests.get(f"{web}/jobs/{ids[0]}", headers=auth, timeout=HUNG).json()
    assert answer["state"] == "done"
    assert answer["email"] == "pending"
    assert answer["reason"] is None
    # Asking again while it is pending would risk a second e-mail: refused.
    again = requests.post(f"{web}/jobs/{ids[0]}/notify", headers=auth, timeout=HUNG)
    assert again.status_code == 409, again.text
    time.sleep(max(0.0, OUTAGE - (time.monotonic() - cut_at)))
    assert rig.mailbox.messages == []

    rig.smtp.restore()
    rig.wait(
        lambda: all(rig.mailbox.for_job(job_id) for job_id in ids),
        60,
        "every e-mail arrived after the mail server came back",
    )
    time.sleep(5)  # two more dispatcher rounds: a second e-mail would show up now
    assert sorted(len(rig.mailbox.for_job(job_id)) for job_id in ids) == [1] * 6
    for job in rig.jobs(ids).values():
        assert job.notified_at is not None and job.email_due_at is None
    answer = requests.get(f"{web}/jobs/{ids[0]}", headers=auth, timeout=HUNG).json()
    assert answer["email"] == "sent"
    again = requests.post(f"{web}/jobs/{ids[0]}/notify", headers=auth, timeout=HUNG)
    assert again.status_code == 409
    assert again.json()["detail"] == "the e-mail was already sent"


def test_an_email_given_up_can_be_asked_for_again_once(rig, start_web):
    web = start_web(**rig.env)
    auth = login(web, rig.user)
    # A zero retry window: the first attempt after the step's own gives the e-mail up.
    rig.start_worker(notify_retry_hours=0.0)
    rig.smtp.cut()
    [job_id] = rig.submit(1)
    rig.wait(
        lambda: (
            rig.jobs([job_id])[job_id].reason is not None
            and rig.jobs([job_id])[job_id].email_due_at is None
        ),
        60,
        "the e-mail given up",
    )
    answer = requests.get(f"{web}/jobs/{job_id}", headers=auth, timeout=HUNG).json()
    assert answer["state"] == "done"
    assert answer["email"] == "failed"
    assert answer["reason"].startswith("Notification failed: the mail server is unreachable")

    rig.smtp.restore()
    asked = requests.post(f"{web}/jobs/{job_id}/notify", headers=auth, timeout=HUNG)
    assert asked.status_code == 202, asked.text
    assert asked.json()["email"] == "pending"
    twice = requests.post(f"{web}/jobs/{job_id}/notify", headers=auth, timeout=HUNG)
    assert twice.status_code == 409
    rig.wait(lambda: rig.mailbox.for_job(job_id), 30, "the e-mail asked for again")
    time.sleep(3)
    assert len(rig.mailbox.for_job(job_id)) == 1
    job = rig.jobs([job_id])[job_id]
    assert job.notified_at is not None and job.reason is None
