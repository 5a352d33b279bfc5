"""A broker that is gone or hung while videos are uploaded: nothing waits for the sweeper.

The web server (a real `vid2mp3 serve`) and the worker reach RabbitMQ through a fault proxy.
Uploads accepted while it is cut are committed without their message; the worker's dispatcher
sends them as soon as the broker is back, long before STUCK_JOB_SECONDS (600 s here) would let
the sweeper find them. While it hangs, an upload answers within BROKER_TIMEOUT (2 s here).
"""

from __future__ import annotations

import time

from faultproxy import login, upload

OUTAGE = 15  # seconds the broker stays cut


def test_uploads_during_a_broker_cut_start_as_soon_as_it_is_back(rig, start_web):
    web = start_web(**rig.env)
    auth = login(web, rig.user)
    rig.start_worker()
    rig.broker.cut()
    cut_at = time.monotonic()
    ids = [upload(web, auth, rig.clip) for _ in range(4)]
    jobs = rig.jobs(ids).values()
    assert all(job.state == "queued" and job.enqueued_at is None for job in jobs)
    time.sleep(max(0.0, OUTAGE - (time.monotonic() - cut_at)))
    assert all(job.state == "queued" for job in rig.jobs(ids).values())

    rig.broker.restore()
    rig.wait(
        lambda: all(job.state != "queued" for job in rig.jobs(ids).values()),
        30,
        "every job started after the broker came back (the sweeper would take 600 s)",
    )
    rig.assert_done_once(ids, "every job done after the broker came back")


def test_uploads_answer_within_the_bound_while_the_broker_hangs(rig, start_web):
    web = start_web(**rig.env)
    auth = login(web, rig.user)
    rig.start_worker()
    rig.broker.pause()
    # BROKER_TIMEOUT is 2 s: an upload that still hangs after 10 s fails the test.
    ids = [upload(web, auth, rig.clip, timeout=10) for _ in range(3)]
    rig.broker.restore()
    rig.assert_done_once(ids, "every job done after the broker came back")
