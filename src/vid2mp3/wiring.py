"""Wire settings into a running web app: services, broker, pipeline hook and readiness checks."""

from __future__ import annotations

import atexit

from core.logs import configure_logging
from core.settings import Settings
from vid2mp3.migrate import head_revision
from vid2mp3.services import build_services
from web.app import create_app
from web.proxy import ProxyFix


def build_web_app(settings: Settings, broker=None):
    """Return the WSGI app for one web process, with the broker set up before any actor.

    `broker`: one already set up in this process (the embedded worker's), else a new one.
    """
    configure_logging(settings)
    services = build_services(settings)
    atexit.register(services.close)
    from actors.broker import setup_broker
    from actors.publisher import BoundedPublisher, FairPublisher
    from actors.queues import QueueAdmin

    broker = broker or setup_broker(settings)
    enqueue = BoundedPublisher(broker, settings.broker_timeout_seconds)
    if settings.fair_queue:
        enqueue = FairPublisher(settings, services.sessions, enqueue)
    app = create_app(
        settings,
        services.sessions,
        services.store,
        services.tokens,
        enqueue=enqueue,
        broker_check=lambda: check_broker(broker),
        schema_revision=head_revision(),
        queues=QueueAdmin(broker),
        dashboard=tasks_dashboard(broker),
    )
    return ProxyFix(app, settings.root_path, settings.trusted_proxies)


def tasks_dashboard(broker):
    """Return a maker of dramatiq-dashboard's WSGI app for a mount path, on a Redis broker
    (it reads only Redis); None on other brokers."""
    from dramatiq.brokers.redis import RedisBroker

    if not isinstance(broker, RedisBroker):
        return None
    from dramatiq_dashboard import DashboardApp

    return lambda mount_path: DashboardApp(broker, mount_path)


def check_broker(broker) -> None:
    """Raise if the broker cannot be reached (readiness); the stub broker is always there."""
    client = getattr(broker, "client", None)
    if client is not None:  # Redis
        client.ping()
    connection = getattr(broker, "connection", None)
    if connection is not None and not connection.is_open:  # RabbitMQ
        raise ConnectionError("RabbitMQ connection is closed")
