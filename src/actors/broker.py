"""Build the Dramatiq broker from settings, with our middleware, and declare the actors on it.

`setup_broker(settings)` is the only way the pipeline gets a broker: it picks RabbitMQ, Redis
or the in-process stub from `BROKER_URL`, configures retries from the settings, adds the worker
middleware, calls `dramatiq.set_broker` and declares the actors on the new broker. The actors
are declared by a function rather than at import time because their queue names come from the
settings (VIDEO_QUEUE, MP3_QUEUE) and the tests build several brokers in one process.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Middleware,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from actors import metrics
from actors.runtime import Runtime, get_runtime, set_runtime
from actors.workdir import reap_orphans
from core.jobs import sweep_stuck_jobs
from core.settings import Settings
from core.states import Step

log = logging.getLogger(__name__)

_thread_state = threading.local()
_STEP_NAMES = frozenset(step.value for step in Step)


def setup_broker(settings: Settings, *, work_root: Path | None = None) -> dramatiq.Broker:
    """Return the broker for `settings.broker_url` with the actors declared; make it current."""
    runtime = Runtime(settings, work_root=work_root)
    set_runtime(runtime)
    _install_job_id_in_log_records()
    middleware = [
        WorkerResources(runtime),
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        # Before Retries in the list, so its after-hooks run after Retries' and see
        # `message.failed` once the retries are exhausted (Dramatiq runs after-hooks reversed).
        RecordExhaustedJobs(runtime),
        Retries(
            max_retries=settings.retry_max,
            # Dramatiq treats 0 as "use the default" (15 s / 7 days): keep at least 1 ms.
            min_backoff=max(1, settings.retry_min_backoff_ms),
            max_backoff=max(1, settings.retry_max_backoff_ms),
            retry_when=_retry_when(settings.retry_max),
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
    from actors import pipeline

    pipeline.declare(broker, settings)
    _configured[:] = [settings, broker]
    return broker


_configured: list = []


def current_broker(settings: Settings) -> dramatiq.Broker | None:
    """Return the broker `setup_broker` last built, if it was for these same settings."""
    if _configured and _configured[0] == settings:
        return _configured[1]
    return None


def _retry_when(max_retries: int):
    def retry_when(retries: int, exception: BaseException) -> bool:
        # Permanent errors (bad input, refused address) never succeed on a later attempt.
        return not getattr(exception, "permanent", False) and retries < max_retries

    return retry_when


def current_job_id() -> str | None:
    """Return the id of the job whose message this thread is processing, if any."""
    return getattr(_thread_state, "job_id", None)


def _install_job_id_in_log_records() -> None:
    """Give every log record made while a message is processed a `job_id` attribute.

    The JSON log format writes it as a field, so every line of a job's step carries the id,
    Dramatiq's own lines included.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, "vid2mp3_job_id", False):
        return

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        job_id = current_job_id()
        if job_id is not None:
            record.job_id = job_id
        return record

    factory.vid2mp3_job_id = True
    logging.setLogRecordFactory(factory)


def current_token() -> int | None:
    """Return the lease token the running actor holds (for the exhausted-retries hook)."""
    return getattr(_thread_state, "token", None)


def set_current_token(token: int | None) -> None:
    _thread_state.token = token


class WorkerResources(Middleware):
    """Give each message a database session; run the sweeper; close everything at shutdown."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.sweeper: Sweeper | None = None

    def before_worker_boot(self, broker, worker) -> None:
        # Dramatiq's RabbitMQ consumers of a fresh delay queue race its declaration (a 404 and a
        # 3 s restart); declaring every queue before the consumers start avoids that.
        if hasattr(broker, "_ensure_queue"):
            try:
                for queue in broker.get_declared_queues():
                    broker.declare_queue(queue, ensure=True)
            except Exception:
                log.warning("could not declare the queues yet; the consumers will retry")

    def after_worker_boot(self, broker, worker) -> None:
        reap_orphans(self.runtime.work_root)
        self.sweeper = Sweeper(self.runtime)
        self.sweeper.start()

    def before_worker_shutdown(self, broker, worker) -> None:
        if self.sweeper is not None:
            self.sweeper.stop()

    def after_worker_shutdown(self, broker, worker) -> None:
        self.runtime.close()

    def before_process_message(self, broker, message) -> None:
        set_current_token(None)
        _thread_state.job_id = message.args[0] if message.args else None
        self.runtime.open_message_session()

    def after_process_message(self, broker, message, *, result=None, exception=None) -> None:
        set_current_token(None)
        _thread_state.job_id = None
        self.runtime.close_message_session()

    after_skip_message = after_process_message


class RecordExhaustedJobs(Middleware):
    """When a step's retries are exhausted, mark its job failed with the last error.

    The message itself goes to Dramatiq's dead-letter queue (`<queue>.XQ`) as usual. A failed
    notify step ends the job as done, with the reason saying what could not be notified.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def after_process_message(self, broker, message, *, result=None, exception=None) -> None:
        if exception is None or not message.failed or message.actor_name not in _STEP_NAMES:
            return
        from actors.pipeline import describe_error
        from core import jobs

        step = Step(message.actor_name)
        job_id = message.args[0]
        reason = describe_error(exception)
        try:
            with self.runtime.sessions() as session:
                changed = jobs.fail_step(
                    session,
                    job_id,
                    step,
                    current_token(),
                    reason,
                    lease_seconds=self.runtime.lease_seconds,
                )
        except Exception:
            log.exception("job %s: could not record the failure of %s", job_id, step)
            return
        if changed:
            log.error("job %s: %s gave up after retries: %s", job_id, step, reason)
            if step is Step.CONVERT:
                metrics.metrics().jobs.labels("failed").inc()


class WorkerMetrics(Middleware):
    """Serve this worker group's metrics from one forked process; tidy up at shutdown."""

    @property
    def forks(self):
        import os

        # Only under the `dramatiq` command line, which chose a multiprocess folder.
        return [metrics.serve_metrics] if metrics.MULTIPROC_ENV in os.environ else []

    def after_worker_shutdown(self, broker, worker) -> None:
        metrics.mark_process_dead()


class Sweeper(threading.Thread):
    """Re-enqueue stuck jobs and reap dead workers' temp folders, every min(60, stuck/4) s."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(name="vid2mp3-sweeper", daemon=True)
        self.runtime = runtime
        self.interval = min(60.0, runtime.settings.stuck_job_seconds / 4)
        self._stop_event = threading.Event()

    def run(self) -> None:
        from actors.pipeline import enqueue_pipeline

        while not self._stop_event.wait(self.interval):
            try:
                sweep_stuck_jobs(
                    self.runtime.sessions, enqueue_pipeline, self.runtime.settings.stuck_job_seconds
                )
                reap_orphans(self.runtime.work_root)
            except Exception:
                # The database or broker may be down for a while; the next round tries again.
                log.warning("sweeper: this round failed; retrying later", exc_info=True)

    def stop(self) -> None:
        self._stop_event.set()


def runtime() -> Runtime:
    """Return this process' runtime (for tests and the embedded runner)."""
    return get_runtime()
