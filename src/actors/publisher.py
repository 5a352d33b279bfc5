"""Publish a job's message from the web within a bound, so a hung broker never hangs a request.

Publishing runs on one thread of its own; the caller waits at most `timeout` seconds for it
and then gets `TimeoutError` (a publish still waiting its turn is cancelled). The job row is
committed before, so the worker's dispatcher sends what the web could not (see core.outbox).
With fair sharing, `FairPublisher` sends a new job's convert message only when a conversion
slot is free and it is its user's turn (`core.fairqueue`), and raises `Held` otherwise; a
worker sends it later.
"""

from __future__ import annotations

import concurrent.futures

import dramatiq
from sqlalchemy.orm import Session, sessionmaker

from actors.chain import enqueue_pipeline
from core import fairqueue
from core.settings import Settings
from core.states import Step


class BoundedPublisher:
    """`publisher(job_id, step)`: send the step's message, waiting at most `timeout` seconds."""

    def __init__(self, broker: dramatiq.Broker, timeout: float) -> None:
        self._broker = broker
        self._timeout = timeout
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="vid2mp3-publish")

    def __call__(self, job_id: str, step: Step = Step.CONVERT) -> None:
        future = self._pool.submit(enqueue_pipeline, job_id, step, self._broker)
        try:
            future.result(timeout=self._timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"the broker did not confirm within {self._timeout:g} s") from None


class FairPublisher:
    """`publisher(job_id, step)`: release convert messages fairly, publish the others at once.

    Raises `core.fairqueue.Held` when the job's convert message waits for its user's turn.
    """

    def __init__(
        self, settings: Settings, sessions: sessionmaker[Session], publish: BoundedPublisher
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._publish = publish

    def __call__(self, job_id: str, step: Step = Step.CONVERT) -> None:
        if step is not Step.CONVERT:
            self._publish(job_id, step)
            return
        released = fairqueue.release(self._sessions, self._settings, self._publish)
        if job_id not in released:
            raise fairqueue.Held(job_id)
