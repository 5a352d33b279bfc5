"""Run the pipeline's worker on threads of the current process (embedded mode, tests).

`vid2mp3 run` serves the web app and consumes the stub broker's queues in one process: the stub
broker lives in memory, so producer and consumer must share it. Delays and retries work as with
a real broker, since the Dramatiq worker keeps the delayed messages.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import dramatiq

from actors.worker import resolve_queues
from core.settings import Settings


@dataclasses.dataclass
class EmbeddedWorker:
    """A Dramatiq worker running on threads of this process; `stop()` ends it cleanly."""

    broker: dramatiq.Broker
    worker: dramatiq.Worker
    stopped: bool = False

    def stop(self, timeout_ms: int = 30_000) -> None:
        """Stop consuming, interrupt running conversions (they are requeued), close resources."""
        if self.stopped:
            return
        self.stopped = True
        self.worker.stop(timeout=timeout_ms)
        self.broker.close()


def start_embedded_worker(
    settings: Settings,
    *,
    threads: int = 2,
    work_root: Path | None = None,
    queues: list[str] | None = None,
    resume: bool = True,
) -> EmbeddedWorker:
    """Start the pipeline's worker inside this process, on `settings.broker_url` (stub://).

    On the stub broker, every unfinished job in the database is re-enqueued first (`resume`;
    the tests, whose database is shared, turn it off). Also used by the tests with real
    brokers. Returns a handle whose `stop()` must be called.
    """
    from actors.broker import current_broker, setup_broker

    # `vid2mp3 run` set the broker up for the web app already: consume that one.
    broker = current_broker(settings) if work_root is None else None
    if broker is None:
        broker = setup_broker(settings, work_root=work_root)
    broker.emit_after("process_boot")
    worker = dramatiq.Worker(
        broker, worker_threads=threads, queues=resolve_queues(settings, queues) or None
    )
    worker.start()
    if resume and settings.embedded:
        _resume_unfinished_jobs()
    return EmbeddedWorker(broker, worker)


def _resume_unfinished_jobs() -> None:
    """Re-enqueue every unfinished job: the stub broker's messages died with the last process.

    Only one process consumes an embedded service's jobs, so a job that is not finished now
    has no message and no worker; waiting STUCK_JOB_SECONDS for the sweeper would be pointless.
    """
    from actors.pipeline import enqueue_pipeline
    from actors.runtime import get_runtime
    from core.jobs import sweep_stuck_jobs

    runtime = get_runtime()
    sweep_stuck_jobs(
        runtime.sessions, enqueue_pipeline, 0, lease_seconds=runtime.lease_seconds, limit=10_000
    )
