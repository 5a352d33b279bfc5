"""List and show jobs (own only, newest first, paginated); liveness and readiness probes."""

from __future__ import annotations

import datetime as dt

from core.db import session_scope
from core.models import Job, utcnow
from core.storage import open_store
from vid2mp3.services import build_services
from web.app import create_app


def add_jobs(sessions, user, count):
    base = utcnow()
    jobs = [
        Job(
            user_id=user.id,
            original_filename=f"clip{i}.mp4",
            created_at=base + dt.timedelta(seconds=i),
        )
        for i in range(count)
    ]
    with session_scope(sessions) as session:
        session.add_all(jobs)
    return [job.id for job in reversed(jobs)]


def test_jobs_are_listed_newest_first_and_paginated(client, auth, user, sessions, make_user):
    newest_first = add_jobs(sessions, user, 5)
    add_jobs(sessions, make_user(), 2)
    first = client.simulate_get("/jobs", params={"limit": 2}, headers=auth).json
    assert first["total"] == 5
    assert [item["id"] for item in first["items"]] == newest_first[:2]
    second = client.simulate_get(first["next"], headers=auth).json
    assert [item["id"] for item in second["items"]] == newest_first[2:4]
    last = client.simulate_get("/jobs", params={"limit": 2, "offset": 4}, headers=auth).json
    assert last["next"] is None
    assert [item["id"] for item in last["items"]] == newest_first[4:]
    past_the_end = client.simulate_get("/jobs", params={"offset": 9}, headers=auth).json
    assert (past_the_end["items"], past_the_end["total"]) == ([], 5)


def test_each_read_sees_what_was_committed_since_the_last(client, auth, user, sessions):
    # Reads end their transaction (no stale snapshot is left on a pooled connection).
    assert client.simulate_get("/jobs", headers=auth).json["total"] == 0
    (job_id,) = add_jobs(sessions, user, 1)
    assert client.simulate_get("/jobs", headers=auth).json["total"] == 1
    assert client.simulate_get(f"/jobs/{job_id}", headers=auth).json["state"] == "queued"
    with session_scope(sessions) as session:
        session.get(Job, job_id).state = "converting"
    assert client.simulate_get(f"/jobs/{job_id}", headers=auth).json["state"] == "converting"


def test_bad_pagination_is_400(client, auth):
    for params in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "ten"}):
        result = client.simulate_get("/jobs", params=params, headers=auth)
        assert result.status_code == 400, params
        assert result.json["detail"].startswith("query parameter")


def test_one_job_shows_state_and_links(client, auth, user, sessions):
    (job_id,) = add_jobs(sessions, user, 1)
    result = client.simulate_get(f"/jobs/{job_id}", headers=auth)
    assert result.status_code == 200
    assert result.json["state"] == "queued"
    assert result.json["links"] == {"self": f"/jobs/{job_id}"}


def test_unknown_route_is_a_problem(client, auth):
    result = client.simulate_get("/nowhere", headers=auth)
    assert result.status_code == 404
    assert result.headers["content-type"] == "application/problem+json"


def test_health_needs_no_token(client):
    assert client.simulate_get("/healthz").json == {"status": "ok"}
    ready = client.simulate_get("/readyz")
    assert ready.status_code == 200
    assert ready.json["checks"] == {"database": "ok", "storage": "ok"}


def test_readiness_names_what_is_down(settings):
    services = build_services(settings)
    down_store = open_store("mongodb://127.0.0.1:1/x?serverSelectionTimeoutMS=300")

    def broker_down():
        raise ConnectionError("broker unreachable")

    try:
        import falcon.testing

        app = create_app(
            settings,
            services.sessions,
            down_store,
            services.tokens,
            enqueue=lambda *a: None,
            broker_check=broker_down,
        )
        result = falcon.testing.TestClient(app).simulate_get("/readyz")
    finally:
        down_store.close()
        services.close()
    assert result.status_code == 503
    assert result.headers["retry-after"]
    assert result.json["detail"] == "not ready: storage unavailable; broker unavailable"
    assert result.json["checks"]["database"] == "ok"


def test_readiness_checks_the_schema_is_at_the_release_head(services):
    import falcon.testing

    from vid2mp3.migrate import head_revision

    def readiness(revision):
        app = create_app(
            services.settings,
            services.sessions,
            services.store,
            services.tokens,
            enqueue=lambda *a: None,
            schema_revision=revision,
        )
        return falcon.testing.TestClient(app).simulate_get("/readyz")

    assert readiness(head_revision()).status_code == 200
    behind = readiness("9999_from_a_newer_release")
    assert behind.status_code == 503
    assert behind.json["checks"]["database"] == "schema not current"
    assert "needs 9999_from_a_newer_release: run `vid2mp3 migrate`" in behind.json["detail"]


def test_an_unmigrated_database_answers_503_not_500(settings, tmp_path):
    import falcon.testing

    from vid2mp3.migrate import head_revision

    empty = build_services(settings.replace(database_url=f"sqlite:///{tmp_path / 'empty.db'}"))
    try:
        app = create_app(
            empty.settings,
            empty.sessions,
            empty.store,
            empty.tokens,
            enqueue=lambda *a: None,
            schema_revision=head_revision(),
        )
        client = falcon.testing.TestClient(app)
        login = client.simulate_post("/login", json={"email": "a@b.c", "password": "whatever1"})
        ready = client.simulate_get("/readyz")
    finally:
        empty.close()
    assert login.status_code == 503
    assert login.headers["retry-after"]
    assert "Traceback" not in login.text
    assert ready.status_code == 503
    assert "has no vid2mp3 schema: run `vid2mp3 migrate`" in ready.json["detail"]


def test_unexpected_error_is_a_500_with_an_id_and_no_internals(services, caplog):
    import falcon.testing

    class Broken:
        auth_required = False

        def on_get(self, req, resp):
            raise RuntimeError("password=hunter2 at /srv/internal.py")

    app = create_app(
        services.settings, services.sessions, services.store, services.tokens, lambda *a: None
    )
    app.add_route("/broken", Broken())
    result = falcon.testing.TestClient(app).simulate_get("/broken")
    assert result.status_code == 500
    assert result.headers["content-type"] == "application/problem+json"
    error_id = result.json["error_id"]
    assert error_id in result.json["detail"]
    assert "hunter2" not in result.text
    assert "Traceback" not in result.text
    assert any(error_id in record.getMessage() for record in caplog.records)


def test_metrics_count_requests_by_route_template_not_raw_path(client, auth):
    client.simulate_get("/jobs/0123456789abcdef0123456789abcdef", headers=auth)
    text = client.simulate_get("/metrics").text
    assert 'http_requests_total{method="GET",route="/jobs/{job_id}",status="404"}' in text
    assert "0123456789abcdef" not in text
    assert (
        'http_request_duration_seconds_bucket{le="0.005",method="GET",route="/jobs/{job_id}"}'
        in text
    )
