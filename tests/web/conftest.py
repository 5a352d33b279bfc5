"""Fixtures for HTTP tests: the app on the real services, a client, a logged-in user, media."""

from __future__ import annotations

import falcon.testing
import pytest

from testservices import TEST_PASSWORD
from vid2mp3.services import build_services
from web.app import create_app


@pytest.fixture
def services(settings):
    services = build_services(settings)
    yield services
    services.close()


@pytest.fixture
def enqueued():
    """Record what the app hands to the pipeline (the pipeline itself is tested elsewhere)."""
    return []


@pytest.fixture
def make_client(services, enqueued):
    def make(settings=None):
        app = create_app(
            settings or services.settings,
            services.sessions,
            services.store,
            services.tokens,
            enqueue=lambda job_id, step: enqueued.append((job_id, step)),
        )
        return falcon.testing.TestClient(app)

    return make


@pytest.fixture
def client(make_client):
    return make_client()


@pytest.fixture
def user(make_user):
    return make_user()


@pytest.fixture
def auth(client, user):
    """Return headers carrying a bearer token for `user`, obtained through POST /login."""
    result = client.simulate_post("/login", json={"email": user.email, "password": TEST_PASSWORD})
    assert result.status_code == 200, result.text
    return {"Authorization": f"Bearer {result.json['access_token']}"}
