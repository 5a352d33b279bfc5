"""The pipeline's Dramatiq side: broker set-up, the actors, workers and the enqueue function.

Call `actors.broker.setup_broker(settings)` before enqueueing or consuming; it declares the
actors on the broker it builds. `enqueue_pipeline(job_id, step)` is what the web app, retries
and the sweeper use to hand a committed job to the pipeline; `actors.chain` shows the chain.
"""

from actors.chain import enqueue_pipeline

__all__ = ["enqueue_pipeline"]
