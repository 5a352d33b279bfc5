"""Build the Dramatiq broker from settings, with our middleware, and declare the actors on it.

`setup_broker(settings)` is the only way the pipeline gets a broker: it picks RabbitMQ, Redis
or the in-process stub from `BROKER_URL`, configures retries from the settings, adds the worker
middleware, calls `dramatiq.set_broker` and declares the actors (`actors.chain.declare`) against
the runtime it is given or builds. The actors are declared by a function rather than at import
time because their queue names come from the settings (VIDEO_QUEUE, MP3_QUEUE) and the tests
build several brokers in one process.
"""

from __future__ import annotations

import functools

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    CurrentMessage,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)
from sqlalchemy.exc import OperationalError

from actors import chain
from actors.dispatcher import Dispatcher
from actors.heartbeat import WorkerHeartbeat
from actors.middleware import (
    RecordExhaustedJobs,
    WorkerMetrics,
    WorkerResources,
    install_job_id_in_log_records,
    install_quiet_expected_failures,
)
from actors.runtime import Runtime
from actors.sweeper import Sweeper
from core.settings import Settings
from core.states import Step


def setup_broker(settings: Settings, runtime: Runtime | None = None) -> dramatiq.Broker:
    """Return the broker for `settings.broker_url` with the actors declared; make it current."""
    runtime = runtime or Runtime(settings)
    install_job_id_in_log_records()
    install_quiet_expected_failures()

    def enqueue(job_id: str, step: Step) -> None:
        chain.enqueue_pipeline(job_id, step, broker)

    sweeper = Sweeper(runtime, enqueue)
    dispatcher = Dispatcher(runtime, enqueue)
    middleware = [
        # First, so that every other hook (Retries' log lines included) sees the message.
        CurrentMessage(),
        WorkerResources(runtime, sweeper, dispatcher),
        WorkerHeartbeat(runtime),
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        # Before Retries in the list, so its after-hooks run after Retries' and see
        # `message.failed` once the retries are exhausted (Dramatiq runs after-hooks reversed).
        RecordExhaustedJobs(runtime),
        Retries(
            max_retries=settings.retry_max,
            # Dramatiq treats 0 as "use the default" (15 s / 7 days): keep at least 1 ms.
            min_backoff=max(1, settings.retry_min_backoff_ms),
            max_backoff=max(1, settings.retry_max_backoff_ms),
            retry_when=functools.partial(_retry_when, settings.retry_max),
        ),
        WorkerMetrics(),
    ]
    url = settings.broker_url
    if url.startswith("stub:"):
        broker: dramatiq.Broker = StubBroker(middleware=middleware)
    elif url.startswith("redis:"):
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=url, middleware=middleware)
    else:
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        # Publisher confirms: an enqueue returns only once RabbitMQ has the message.
        broker = RabbitmqBroker(url=url, middleware=middleware, confirm_delivery=True)
    dramatiq.set_broker(broker)
    chain.declare(broker, runtime)
    return broker


# Extra retries for a database that is away: not the job's fault, and nothing can be recorded
# until it is back (with the default backoff cap of 5 minutes, they span well over an hour).
DATABASE_EXTRA_RETRIES = 20


def _retry_when(max_retries: int, retries: int, exception: BaseException) -> bool:
    # Permanent errors (bad input, refused address) never succeed on a later attempt.
    if getattr(exception, "permanent", False):
        return False
    if isinstance(exception, OperationalError):
        return retries < max_retries + DATABASE_EXTRA_RETRIES
    return retries < max_retries
