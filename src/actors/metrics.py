"""The worker's Prometheus metrics, and the one exposition server of a `dramatiq` worker group.

Dramatiq's own Prometheus middleware is left out (it keeps counters in /tmp across runs and
binds 0.0.0.0:9191). Instead every worker process of one `dramatiq` run writes prometheus-client
multiprocess files under `DATA_DIR/metrics/<pid of the dramatiq main process>` (so a new run
starts from zero), and one extra process forked by Dramatiq serves them on `METRICS_PORT`. In
the embedded mode nothing is forked: the metrics live in the default registry of the one process.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
from pathlib import Path

from core.models import Job, utcnow
from core.settings import Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiproc_dir(settings: Settings, main_pid: int) -> Path:
    """Return the metrics folder of the `dramatiq` run whose main process is `main_pid`."""
    return settings.data_dir / "metrics" / str(main_pid)


def enable_multiprocess(settings: Settings) -> Path:
    """Point prometheus-client at this run's folder; call before prometheus_client is imported."""
    path = multiproc_dir(settings, os.getppid())
    path.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(path)
    return path


class WorkerMetrics:
    """The worker's counters and histograms (one set per process, see `worker_metrics`)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        self.jobs = Counter(
            "converter_jobs_total",
            "Conversions by result (converted, failed, retried).",
            ["result"],
        )
        for result in ("converted", "failed", "retried"):
            self.jobs.labels(result)  # exported at 0 from the start, so rate() sees the first
        self.wait = Histogram(
            "converter_wait_seconds",
            "Seconds from a job's message reaching the broker to the start of its conversion.",
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200),
        )
        self.seconds = Histogram(
            "converter_conversion_seconds",
            "Wall-clock seconds ffmpeg spent converting one job.",
            buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
        )
        self.realtime = Histogram(
            "converter_realtime_factor",
            "Seconds of media converted per second of conversion.",
            buckets=(1, 5, 10, 25, 50, 100, 200, 400, 800),
        )
        self.notifications = Counter(
            "notifications_total", "Notifications by channel and result.", ["channel", "result"]
        )

    def observe_wait(self, job: Job) -> None:
        """Record how long `job` was queued before a worker claimed its conversion (just now)."""
        if job.enqueued_at is not None:
            self.wait.observe(max(0.0, (utcnow() - job.enqueued_at).total_seconds()))


@functools.cache
def worker_metrics() -> WorkerMetrics:
    """Return this process' metrics, registered once in prometheus-client's default registry.

    Cached because that registry is itself one per process: a second registration of the same
    names would fail. Call it after the multiprocess folder is chosen (`enable_multiprocess`).
    """
    return WorkerMetrics()


def mark_process_dead() -> None:
    """Drop this process' live gauges from the multiprocess files (at worker shutdown)."""
    if MULTIPROC_ENV in os.environ:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())


def serve_metrics() -> int:
    """Serve the worker group's metrics on METRICS_PORT (a Dramatiq fork function)."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    settings = Settings.from_env()
    path = multiproc_dir(settings, os.getppid())
    path.mkdir(parents=True, exist_ok=True)
    _prune_old_runs(path.parent, keep=path)
    os.environ[MULTIPROC_ENV] = str(path)
    from prometheus_client import CollectorRegistry, make_wsgi_app, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(path))

    class _Quiet(WSGIRequestHandler):
        def log_message(self, *args) -> None:  # one line per scrape is noise
            pass

    app = make_wsgi_app(registry)
    # All interfaces: Prometheus scrapes the worker pod from outside.
    server = make_server("0.0.0.0", settings.metrics_port, app, handler_class=_Quiet)  # noqa: S104
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def _prune_old_runs(root: Path, keep: Path) -> None:
    """Remove the folders of earlier runs whose main process is gone."""
    for entry in root.iterdir():
        if entry == keep or not entry.name.isdigit():
            continue
        try:
            os.kill(int(entry.name), 0)
        except ProcessLookupError:
            shutil.rmtree(entry, ignore_errors=True)
        except PermissionError:
            continue
