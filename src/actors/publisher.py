"""Publish a job's message from the web within a bound, so a hung broker never hangs a request.

Publishing runs on one thread of its own; the caller waits at most `timeout` seconds for it
and then gets `TimeoutError` (a publish still waiting its turn is cancelled). The job row is
committed before, so the worker's dispatcher sends what the web could not (see core.outbox).
"""

from __future__ import annotations

import concurrent.futures

import dramatiq

from actors.chain import enqueue_pipeline
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
