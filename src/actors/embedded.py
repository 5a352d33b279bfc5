"""Run the pipeline's worker on threads of the current process (embedded mode, tests).

`vid2mp3 run` serves the web app and consumes the stub broker's queues in one process: the stub
broker lives in memory, so producer and consumer must share it. Delays and retries work as with
a real broker, since the Dramatiq worker keeps the delayed messages.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import dramatiq

from actors.runtime import Runtime
from actors.worker import resolve_queues
from core.settings import Settings


@dataclasses.dataclass
class EmbeddedWorker:
    """A Dramatiq worker running on threads of this process; `stop()` ends it cleanly."""

    broker: dramatiq.Broker
    worker: dramatiq.Worker
    runtime: Runtime
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

    Sets up the broker (the web app of `vid2mp3 run` enqueues on the same one). On the stub
    broker, every unfinished job in the database is re-enqueued first (`resume`; the tests,
    whose database is shared, turn it off). Also used by the tests with real brokers. Returns a
    handle whose `stop()` must be called.
    """
    from actors.broker import setup_broker

    runtime = Runtime(settings, work_root=work_root)
    broker = setup_broker(settings, runtime)
    broker.emit_after("process_boot")
    worker = dramatiq.Worker(
        broker, worker_threads=threads, queues=resolve_queues(settings, queues) or None
    )
    worker.start()
    if resume and settings.embedded:
        _resume_unfinished_jobs(runtime, broker)
    return EmbeddedWorker(broker, worker, runtime)


def _resume_unfinished_jobs(runtime: Runtime, broker: dramatiq.Broker) -> None:
    """Re-enqueue every unfinished job: the stub broker's messages died with the last process.

    Only one process consumes an embedded service's jobs, so a job that is not finished now
    has no message and no worker; waiting STUCK_JOB_SECONDS for the sweeper would be pointless.
    Jobs still held for their turn (core.fairqueue) had no message: the dispatcher sends them.
    """
    from actors.chain import enqueue_pipeline
    from core.jobs import sweep_stuck_jobs

    sweep_stuck_jobs(
        runtime.sessions,
        lambda job_id, step: enqueue_pipeline(job_id, step, broker),
        0,
        lease_seconds=runtime.lease_seconds,
        limit=10_000,
    )
