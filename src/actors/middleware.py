"""The worker's Dramatiq middleware: resources and housekeeping threads, failures, metrics, ids.

Per-message context comes from Dramatiq's own `CurrentMessage` middleware (which `setup_broker`
installs first): the job id in every log record made while a message is processed, and the lease
token the exhausted-retries hook fails the job with.
"""

from __future__ import annotations

import logging
import os

from dramatiq.middleware import CurrentMessage, Middleware

from actors import metrics
from actors.dispatcher import Dispatcher
from actors.errors import SERVICE_AWAY, describe_error
from actors.lease import LEASE_OPTION
from actors.runtime import Runtime
from actors.sweeper import Sweeper
from actors.workdir import reap_orphans
from core import jobs
from core.states import Step

log = logging.getLogger(__name__)

_STEP_NAMES = frozenset(step.value for step in Step)


class WorkerResources(Middleware):
    """Declare the queues, run the sweeper and the dispatcher, close connections at shutdown."""

    def __init__(self, runtime: Runtime, sweeper: Sweeper, dispatcher: Dispatcher) -> None:
        self.runtime = runtime
        self.sweeper = sweeper
        self.dispatcher = dispatcher

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
        self.sweeper.start()
        self.dispatcher.start()

    def before_worker_shutdown(self, broker, worker) -> None:
        self.sweeper.stop()
        self.dispatcher.stop()

    def after_worker_shutdown(self, broker, worker) -> None:
        self.runtime.close()


class RecordExhaustedJobs(Middleware):
    """When a step's retries are exhausted, mark its job failed with the last error.

    The message itself goes to Dramatiq's dead-letter queue (`<queue>.XQ`) as usual. A failed
    notify step ends the job as done, with the reason saying what could not be notified.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def before_process_message(self, broker, message) -> None:
        # A token from an earlier delivery of this message is not this delivery's lease.
        message.options.pop(LEASE_OPTION, None)

    def after_process_message(self, broker, message, *, result=None, exception=None) -> None:
        if exception is None or not message.failed or message.actor_name not in _STEP_NAMES:
            return
        step = Step(message.actor_name)
        job_id = message.args[0]
        reason = describe_error(exception)
        try:
            with self.runtime.sessions() as session:
                changed = jobs.fail_step(
                    session,
                    job_id,
                    step,
                    message.options.get(LEASE_OPTION),
                    reason,
                    lease_seconds=self.runtime.lease_seconds,
                )
        except Exception:
            log.exception("job %s: could not record the failure of %s", job_id, step)
            return
        if changed:
            log.error("job %s: %s gave up after retries: %s", job_id, step, reason)
            if step is Step.CONVERT:
                self.runtime.metrics.jobs.labels("failed").inc()


class WorkerMetrics(Middleware):
    """Serve this worker group's metrics from one forked process; tidy up at shutdown."""

    @property
    def forks(self):
        # Only under the `dramatiq` command line, which chose a multiprocess folder.
        return [metrics.serve_metrics] if metrics.MULTIPROC_ENV in os.environ else []

    def before_worker_boot(self, broker, worker) -> None:
        # Every instrument is exported (at 0) before the first message, so that Prometheus sees
        # the first job as an increase and `rate()` shows it.
        metrics.worker_metrics()

    def after_worker_shutdown(self, broker, worker) -> None:
        metrics.mark_process_dead()


def current_job_id() -> str | None:
    """Return the id of the job whose message this thread is processing, if any."""
    message = CurrentMessage.get_current_message()
    if message is None or message.actor_name not in _STEP_NAMES or not message.args:
        return None
    return message.args[0]


def install_job_id_in_log_records() -> None:
    """Give every log record made while a step's message is processed a `job_id` attribute.

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


class _QuietExpectedFailures(logging.Filter):
    """Drop Dramatiq's traceback for a step that failed because a service is away (not DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, SERVICE_AWAY) or logging.getLogger().isEnabledFor(
            logging.DEBUG
        )


def install_quiet_expected_failures() -> None:
    """Keep a database, store or mail outage from filling the worker log with tracebacks.

    The step runner logs one line per failure with the job id; Dramatiq's worker would add the
    traceback of every attempt. Unexpected errors keep theirs.
    """
    worker_log = logging.getLogger("dramatiq.worker.WorkerThread")
    if not any(isinstance(f, _QuietExpectedFailures) for f in worker_log.filters):
        worker_log.addFilter(_QuietExpectedFailures())
