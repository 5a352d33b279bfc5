"""The admin JSON API: overview figures, filters, sort, pages, timelines and actions."""

from __future__ import annotations

import datetime as dt
import uuid

import dramatiq

from cookies import Browser, form_token
from core import timeline, workers
from core.db import session_scope
from core.models import Job, utcnow
from testservices import TEST_PASSWORD


def test_overview_counts_states_throughput_and_median_times(
    client, admin_auth, make_user, make_job
):
    user = make_user()
    now = utcnow()
    start = now - dt.timedelta(minutes=30)
    for wait, took in ((10, 20), (20, 40), (30, 60)):
        make_job(
            user,
            state="done",
            created_at=start,
            started_at=start + dt.timedelta(seconds=wait),
            converted_at=start + dt.timedelta(seconds=wait + took),
            finished_at=now - dt.timedelta(minutes=1),
        )
    make_job(user, state="failed", reason="boom", finished_at=now - dt.timedelta(hours=3))
    make_job(user, state="queued")
    body = client.simulate_get("/admin/api/overview", headers=admin_auth).json
    # Other tests share the database: compare with at least what this test added.
    assert body["jobs_by_state"]["done"] >= 3
    assert body["jobs_by_state"]["queued"] >= 1
    assert body["finished"]["day"]["failed"] >= 1
    assert body["finished"]["hour"]["done"] >= 3
    assert set(body["finished"]["hour"]) == {"done", "failed", "failure_rate"}
    queues = {q["queue"]: q for q in body["queues"]["items"]}
    assert body["queues"]["broker"] == "stub"
    assert len(queues) == 2 and all(q["ready"] == 0 for q in queues.values())


def test_jobs_filter_by_state_user_time_and_error_sort_and_page(
    client, admin_auth, make_user, make_job
):
    user = make_user()
    old = utcnow() - dt.timedelta(days=3)
    first = make_job(user, state="failed", reason="no audio stream in the file", created_at=old)
    second = make_job(user, state="failed", reason="the file store was unavailable")
    make_job(user, state="done")

    def ids(**params):
        result = client.simulate_get("/admin/api/jobs", params=params, headers=admin_auth)
        assert result.status_code == 200, result.text
        return [item["id"] for item in result.json["items"]], result.json["total"]

    assert ids(user=user.email, state="failed", sort="created") == ([first, second], 2)
    assert ids(user=user.email, sort="-created")[1] == 3
    assert ids(user=user.email, error="no audio") == ([first], 1)
    since = (utcnow() - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert ids(user=user.email, state="failed", since=since) == ([second], 1)
    until = (utcnow() - dt.timedelta(days=1)).isoformat()
    assert ids(user=user.email, until=until) == ([first], 1)
    page_two = ids(user=user.email, per_page=25, page=2)
    assert page_two == ([], 3)
    bad = client.simulate_get("/admin/api/jobs", params={"state": "lost"}, headers=admin_auth)
    assert bad.status_code == 400 and "state" in bad.json["detail"]


def test_timeline_retry_bulk_retry_cancel_delete(
    client, admin_auth, make_user, make_job, sessions, enqueued
):
    user = make_user()
    failed = make_job(user, state="failed", failed_step="convert", reason="ffmpeg was killed")
    other = make_job(user, state="failed", failed_step="convert", reason="ffmpeg was killed")
    with session_scope(sessions) as session:
        event = timeline.start(session, failed, "convert", 1, "host-a", 42)
        timeline.finish(session, event, "retry", "ffmpeg was killed")
    body = client.simulate_get(f"/admin/api/jobs/{failed}", headers=admin_auth).json
    assert body["user"] == user.email
    assert body["timeline"][0]["worker"] == {"host": "host-a", "pid": 42}
    assert body["timeline"][0]["outcome"] == "retry"

    result = client.simulate_post(f"/admin/api/jobs/{failed}/retry", headers=admin_auth)
    assert result.status_code == 202 and result.json["state"] == "queued"
    again = client.simulate_post(f"/admin/api/jobs/{failed}/retry", headers=admin_auth)
    assert again.status_code == 409

    bulk = client.simulate_post(
        "/admin/api/jobs/retry", params={"user": user.email}, headers=admin_auth
    )
    assert bulk.json == {"retried": 1}
    assert (other, "convert") in enqueued and (failed, "convert") in enqueued

    cancelled = client.simulate_post(f"/admin/api/jobs/{other}/cancel", headers=admin_auth)
    assert cancelled.json["state"] == "cancelled"
    gone = client.simulate_delete(f"/admin/api/jobs/{failed}", headers=admin_auth)
    assert gone.status_code == 204
    with session_scope(sessions) as session:
        assert session.get(Job, failed) is None
        assert timeline.for_job(session, failed) == []


def test_dead_letters_requeue_and_purge(client, admin_auth, broker, make_user, make_job, enqueued):
    user = make_user()
    job_id = make_job(user, state="failed", failed_step="convert", reason="gave up")
    queue = broker.get_actor("convert").queue_name
    broker.dead_letters_by_queue[queue].append(
        dramatiq.Message(queue, "convert", (job_id,), {}, {})
    )
    depths = client.simulate_get("/admin/api/queues", headers=admin_auth).json
    assert {q["queue"]: q["dead"] for q in depths["items"]}[queue] == 1

    result = client.simulate_post(f"/admin/api/queues/{queue}/requeue", headers=admin_auth)
    assert result.json == {"requeued": 1}
    assert enqueued == [(job_id, "convert")]
    broker.dead_letters_by_queue[queue].append(
        dramatiq.Message(queue, "convert", (job_id,), {}, {})
    )
    assert client.simulate_post(f"/admin/api/queues/{queue}/purge", headers=admin_auth).json == {
        "purged": 1
    }
    unknown = client.simulate_post("/admin/api/queues/nope/purge", headers=admin_auth)
    assert unknown.status_code == 404


def test_workers_live_then_gone(client, admin_auth, sessions, settings):
    live, gone = f"w-{uuid.uuid4().hex}", f"w-{uuid.uuid4().hex}"
    with session_scope(sessions) as session:
        workers.beat(
            session,
            live,
            host="h",
            pid=1,
            queues="video",
            threads=2,
            jobs_done=3,
            jobs_failed=0,
            current_jobs=["abc"],
        )
        workers.beat(
            session,
            gone,
            host="h",
            pid=2,
            queues="mp3",
            threads=1,
            jobs_done=0,
            jobs_failed=1,
            current_jobs=[],
        )
        row = session.get(workers.WorkerProcess, gone)
        row.last_seen_at = utcnow() - dt.timedelta(seconds=settings.worker_gone_seconds + 1)
    items = client.simulate_get("/admin/api/workers", headers=admin_auth).json["items"]
    found = {item["id"]: item for item in items}
    assert found[live]["live"] and found[live]["current_jobs"] == ["abc"]
    assert not found[gone]["live"] and found[gone]["jobs_failed"] == 1


def _dead(broker, queue: str, job_id: str, error: str) -> str:
    options = {"traceback": f"Traceback (most recent call last):\n  ...\n{error}\n"}
    message = dramatiq.Message(queue, "convert", (job_id,), {}, options)
    broker.dead_letters_by_queue[queue].append(message)
    return message.message_id


def test_dead_letters_are_listed_and_taken_one_at_a_time(
    client, admin_auth, broker, make_user, make_job, enqueued
):
    user = make_user()
    first = make_job(user, state="failed", failed_step="convert", reason="gave up")
    second = make_job(user, state="failed", failed_step="convert", reason="gave up")
    queue = broker.get_actor("convert").queue_name
    one = _dead(broker, queue, first, "actors.errors.Transient: ffmpeg was killed")
    two = _dead(broker, queue, second, "OSError: No space left on device")

    letters = client.simulate_get("/admin/api/queues", headers=admin_auth).json["dead_letters"]
    assert [(d["message_id"], d["queue"], d["actor"], d["job_id"]) for d in letters] == [
        (one, queue, "convert", first),
        (two, queue, "convert", second),
    ]
    assert letters[0]["error"] == "actors.errors.Transient: ffmpeg was killed"
    assert "Traceback" not in str(letters)
    assert dt.datetime.fromisoformat(letters[0]["at"]) <= dt.datetime.now(dt.UTC)
    overview = client.simulate_get("/admin/api/overview", headers=admin_auth).json
    assert [d["message_id"] for d in overview["queues"]["dead_letters"]] == [one, two]

    dead = f"/admin/api/queues/{queue}/dead"
    taken = client.simulate_post(f"{dead}/{two}/requeue", headers=admin_auth)
    assert taken.json == {"requeued": 1}
    assert enqueued == [(second, "convert")]
    left = client.simulate_get("/admin/api/queues", headers=admin_auth).json["dead_letters"]
    assert [d["message_id"] for d in left] == [one]
    again = client.simulate_post(f"{dead}/{two}/purge", headers=admin_auth)
    assert again.status_code == 404
    assert again.json["detail"] == "no such dead letter"
    purged = client.simulate_post(f"{dead}/{one}/purge", headers=admin_auth)
    assert purged.json == {"purged": 1}
    assert enqueued == [(second, "convert")]
    assert client.simulate_get("/admin/api/queues", headers=admin_auth).json["dead_letters"] == []


def test_the_overview_page_lists_dead_letters_with_a_form_for_each(
    client, admin, broker, make_user, make_job, enqueued
):
    job_id = make_job(make_user(), state="failed", failed_step="convert", reason="gave up")
    queue = broker.get_actor("convert").queue_name
    message_id = _dead(broker, queue, job_id, "actors.errors.Transient: ffmpeg was killed")
    browser = Browser(client)
    browser.sign_in(admin.email, TEST_PASSWORD)
    page = browser.get("/admin")
    assert f'<tr data-message="{message_id}">' in page.text
    assert "actors.errors.Transient: ffmpeg was killed" in page.text
    action = f"/admin/queues/{queue}/dead/{message_id}/requeue"
    assert f'action="{action}"' in page.text
    posted = browser.post_form(action, {"csrf_token": form_token(page.text)})
    assert posted.status_code == 303
    assert posted.headers["location"] == "/admin?done=requeue&n=1"
    assert enqueued == [(job_id, "convert")]
    twice = browser.post_form(action, {"csrf_token": form_token(page.text)})
    assert twice.headers["location"] == "/admin?done=requeue&n=0"
    assert "No dead letters." in browser.get("/admin").text


def test_workers_silent_past_the_prune_setting_are_deleted_and_never_listed(
    client, admin_auth, sessions, settings
):
    kept, old = f"w-{uuid.uuid4().hex}", f"w-{uuid.uuid4().hex}"
    with session_scope(sessions) as session:
        for worker_id in (kept, old):
            workers.beat(session, worker_id, host="h", pid=1, queues="video", threads=1)
        session.get(workers.WorkerProcess, kept).last_seen_at = utcnow() - dt.timedelta(
            seconds=settings.worker_gone_seconds + 1
        )
        session.get(workers.WorkerProcess, old).last_seen_at = utcnow() - dt.timedelta(
            seconds=settings.worker_prune_seconds + 1
        )
    listed = {
        w["id"]: w
        for w in client.simulate_get("/admin/api/workers", headers=admin_auth).json["items"]
    }
    assert not listed[kept]["live"]
    assert old not in listed
    with session_scope(sessions) as session:
        assert workers.prune(session, settings.worker_prune_seconds) >= 1
    with session_scope(sessions) as session:
        assert session.get(workers.WorkerProcess, old) is None
        assert session.get(workers.WorkerProcess, kept) is not None
