"""`GET /jobs` and `GET /jobs/{id}` keep finished jobs' JSON per process (web.finished_jobs): a
kept job still shows every change to its row, whichever write made it, on MariaDB and on SQLite
(the embedded mode).
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import update

from core import outbox
from core.accounts import create_user
from core.db import session_scope
from core.models import Job, utcnow
from testservices import TEST_PASSWORD
from vid2mp3.migrate import upgrade_to_head
from vid2mp3.services import build_services
from web.finished_jobs import FinishedJobs


@pytest.fixture(params=["mariadb", "sqlite"])
def services(request, settings, tmp_path):
    if request.param == "sqlite":
        settings = settings.replace(database_url=f"sqlite:///{tmp_path / 'embedded.db'}")
        upgrade_to_head(settings.database_url)
    services = build_services(settings)
    yield services
    services.close()


def test_a_kept_job_shows_every_change_to_its_row(services, make_client):
    client = make_client()  # on `services` above
    email = f"kept-{uuid.uuid4().hex[:8]}@example.com"
    with session_scope(services.sessions) as session:
        user = create_user(session, email, TEST_PASSWORD)
        session.flush()
        job = Job(user_id=user.id, original_filename="a.mp4", state="done", finished_at=utcnow())
        session.add(job)
    token = client.simulate_post("/login", json={"email": email, "password": TEST_PASSWORD}).json[
        "access_token"
    ]

    auth = {"Authorization": f"Bearer {token}"}

    def listed() -> dict:
        # The job's own route first: after a change, each route reads the row anew.
        alone = client.simulate_get(f"/jobs/{job.id}", headers=auth).json
        (item,) = client.simulate_get("/jobs", headers=auth).json["items"]
        assert alone == item
        return item

    first = listed()
    assert first["email"] == "failed" and listed() == first  # the second read is the kept one

    # A write that leaves updated_at alone (the e-mail's outcome) still shows at once.
    with session_scope(services.sessions) as session:
        outbox.email_sent(session, job.id)
    assert listed()["email"] == "sent"
    with session_scope(services.sessions) as session:
        session.execute(update(Job).where(Job.id == job.id).values(media={"duration": 2.5}))
    assert listed()["media"] == {"duration": 2.5}
    # NULL and empty text differ.
    for reason in ("", None):
        with session_scope(services.sessions) as session:
            session.execute(update(Job).where(Job.id == job.id).values(reason=reason))
        assert listed()["reason"] == reason


def test_the_least_recently_used_go_first():
    kept = FinishedJobs(size=2)
    kept.put(("a",), {"id": "a"})
    kept.put(("b",), {"id": "b"})
    assert kept.get(("a",)) == {"id": "a"}  # "b" is now the least recently used
    kept.put(("c",), {"id": "c"})
    assert kept.get(("b",)) is None
    assert kept.get(("a",)) and kept.get(("c",))
