"""Start workers: the `dramatiq` command line over the actors, or a worker inside this process.

`vid2mp3 worker` runs `worker_argv(...)`, i.e. `python -m dramatiq actors.worker:setup ...`;
Dramatiq calls `setup()` in each worker process, which reads the settings from the environment
and builds the broker (declaring the actors) before any message is consumed. `vid2mp3 run`
runs the same actors on threads of its own process (`actors.embedded`).
"""

from __future__ import annotations

import os
import sys

from actors import metrics
from core.logs import configure_logging
from core.settings import Settings

# Logical queue names accepted by `vid2mp3 worker --queues`, mapped to the configured ones.
QUEUE_ALIASES = ("video", "mp3")


def setup() -> None:
    """Build the broker from the environment (`dramatiq actors.worker:setup` calls this)."""
    from actors.broker import setup_broker

    settings = Settings.from_env()
    # Before prometheus_client is imported anywhere in this process.
    metrics.enable_multiprocess(settings)
    configure_logging(settings, keep_handlers=True)
    setup_broker(settings)


def resolve_queues(settings: Settings, queues: list[str] | None) -> list[str]:
    """Map "video"/"mp3" to VIDEO_QUEUE/MP3_QUEUE; other names pass through unchanged."""
    aliases = {"video": settings.video_queue, "mp3": settings.mp3_queue}
    return [aliases.get(name, name) for name in queues or []]


def worker_argv(
    settings: Settings,
    queues: list[str] | None = None,
    processes: int | None = None,
    threads: int | None = None,
) -> list[str]:
    """Return the command line of a Dramatiq worker group over the pipeline's actors.

    `queues` (default: all) may name "video" and "mp3" (the converter and notifier groups).
    Defaults: one process per core and two threads each. ffmpeg does the heavy work in its own
    process, so a second thread keeps the core busy while the first waits on the store, the
    database or the broker (bench/throughput.py: 0.71 vs 0.61 of a plain ffmpeg loop's rate).
    """
    argv = [sys.executable, "-m", "dramatiq", "actors.worker:setup"]
    argv += ["--processes", str(processes or os.cpu_count() or 1)]
    argv += ["--threads", str(threads or 2)]
    # Give a conversion time to finish on SIGTERM; after that it is requeued, not lost.
    argv += ["--worker-shutdown-timeout", "30000"]
    if queues:
        argv += ["--queues", *resolve_queues(settings, queues)]
    return argv


def run_worker(
    settings: Settings,
    queues: list[str] | None = None,
    processes: int | None = None,
    threads: int | None = None,
) -> None:
    """Replace this process with the Dramatiq worker group (never returns)."""
    argv = worker_argv(settings, queues, processes, threads)
    os.execv(argv[0], argv)  # noqa: S606 - our own interpreter and arguments
