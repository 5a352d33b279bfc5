"""Fixtures for the admin dashboard's HTTP tests: the app with a stub broker's queues, callers."""

from __future__ import annotations

import uuid

import dramatiq
import falcon.testing
import pytest

from actors.broker import setup_broker
from actors.queues import QueueAdmin
from core.db import session_scope
from core.models import Job, utcnow
from testservices import TEST_PASSWORD
from vid2mp3.services import build_services
from web.app import create_app


@pytest.fixture
def services(settings):
    services = build_services(settings)
    yield services
    services.close()


@pytest.fixture
def broker(settings):
    """A stub broker with private queue names and the actors declared (never consumed)."""
    tag = uuid.uuid4().hex[:8]
    broker = setup_broker(settings.replace(video_queue=f"v{tag}", mp3_queue=f"m{tag}"))
    yield broker
    broker.close()
    dramatiq.set_broker(dramatiq.get_broker())


@pytest.fixture
def enqueued():
    return []


@pytest.fixture
def client(services, broker, enqueued):
    app = create_app(
        services.settings,
        services.sessions,
        services.store,
        services.tokens,
        enqueue=lambda job_id, step: enqueued.append((job_id, str(step))),
        queues=QueueAdmin(broker),
    )
    return falcon.testing.TestClient(app)


@pytest.fixture
def bearer(client):
    """Return bearer(user) -> headers with a token from the user's password login."""

    def login(user) -> dict:
        result = client.simulate_post(
            "/login", json={"email": user.email, "password": TEST_PASSWORD}
        )
        assert result.status_code == 200, result.text
        return {"Authorization": f"Bearer {result.json['access_token']}"}

    return login


@pytest.fixture
def admin(make_user):
    return make_user(is_admin=True)


@pytest.fixture
def admin_auth(bearer, admin):
    return bearer(admin)


@pytest.fixture
def make_job(sessions):
    """Add a job row for `user` with the given columns; return its id."""

    def make(user, **values) -> str:
        values.setdefault("original_filename", "clip.mp4")
        values.setdefault("created_at", utcnow())
        with session_scope(sessions) as session:
            job = Job(user_id=user.id, **values)
            session.add(job)
            session.flush()
            return job.id

    return make
