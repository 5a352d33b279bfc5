"""The gauges `/metrics` reads at scrape time: jobs by state, queue depths, a source that fails."""

from __future__ import annotations

import dramatiq
import falcon.testing
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker
from prometheus_client.parser import text_string_to_metric_families

from actors.queues import QueueAdmin
from core.accounts import create_user
from core.db import make_engine, make_sessions, session_scope
from core.models import Base, Job
from testservices import TEST_PASSWORD, free_port
from web import state_metrics
from web.app import create_app


def gauges(text: str, name: str) -> dict[tuple, float]:
    """Return the samples of family `name` as {label values sorted by label name: value}."""
    (family,) = (f for f in text_string_to_metric_families(text) if f.name == name)
    return {tuple(v for _, v in sorted(s.labels.items())): s.value for s in family.samples}


@pytest.fixture
def private_sessions(tmp_path):
    """A SQLite database of this test alone, so the counts are exact under parallel tests."""
    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    Base.metadata.create_all(engine)
    yield make_sessions(engine)
    engine.dispose()


def metrics_app(services, sessions, queues=None) -> falcon.testing.TestClient:
    app = create_app(
        services.settings, sessions, services.store, services.tokens, lambda *a: None, queues=queues
    )
    return falcon.testing.TestClient(app)


def scrape(app: falcon.testing.TestClient) -> str:
    result = app.simulate_get("/metrics")
    assert result.status_code == 200
    return result.text


def add_jobs(sessions, *states: str) -> None:
    with session_scope(sessions) as session:
        user = create_user(session, f"{len(states)}-{states[0]}@example.com", TEST_PASSWORD)
        session.flush()
        session.add_all(Job(user_id=user.id, original_filename="a.mp4", state=s) for s in states)


def test_jobs_by_state_and_queue_depths(services, private_sessions):
    add_jobs(private_sessions, "queued", "queued", "converting", "done", "done", "done", "failed")
    broker = StubBroker(middleware=[])
    broker.declare_queue("video")
    broker.declare_queue("mp3")
    for _ in range(3):
        broker.enqueue(dramatiq.Message("video", "convert", ("x",), {}, {}))
    consumer = broker.consume("video")
    consumer.nack(next(consumer))  # one dead letter, the way a stub worker gives up

    text = scrape(metrics_app(services, private_sessions, QueueAdmin(broker)))

    assert gauges(text, "vid2mp3_jobs") == {
        ("queued",): 2,
        ("converting",): 1,
        ("storing",): 0,
        ("notifying",): 0,
        ("done",): 3,
        ("failed",): 1,
        ("cancelled",): 0,
    }
    queues = gauges(text, "vid2mp3_queue_messages")
    assert queues[("ready", "video")] == 2
    assert queues[("dead", "video")] == 1
    assert queues[("delayed", "video")] == 0
    assert queues[("ready", "mp3")] == 0
    assert gauges(text, "vid2mp3_metrics_source_up") == {("database",): 1, ("broker",): 1}


def test_an_unreachable_source_is_a_gauge_not_a_failed_scrape(services):
    closed = free_port()
    sessions = make_sessions(make_engine(f"mysql+pymysql://root@127.0.0.1:{closed}/x", timeout=2))
    broker = RabbitmqBroker(url=f"amqp://guest:guest@127.0.0.1:{closed}", middleware=[])

    text = scrape(metrics_app(services, sessions, QueueAdmin(broker)))

    assert gauges(text, "vid2mp3_metrics_source_up") == {("database",): 0, ("broker",): 0}
    assert "vid2mp3_jobs" not in text
    assert "vid2mp3_queue_messages" not in text
    assert "# TYPE http_requests_total counter" in text  # the rest of the scrape is there


def test_readings_are_reused_for_a_moment_however_often_metrics_is_asked(
    services, private_sessions, monkeypatch
):
    monkeypatch.setattr(state_metrics, "MIN_INTERVAL", 3600.0)
    add_jobs(private_sessions, "queued")
    app = metrics_app(services, private_sessions)
    assert gauges(scrape(app), "vid2mp3_jobs")[("queued",)] == 1
    add_jobs(private_sessions, "queued", "queued")
    assert gauges(scrape(app), "vid2mp3_jobs")[("queued",)] == 1  # the same reading, no query
    monkeypatch.setattr(state_metrics, "MIN_INTERVAL", 0.0)
    assert gauges(scrape(app), "vid2mp3_jobs")[("queued",)] == 3
