"""Count, time and log HTTP requests by route template, and serve Prometheus' `/metrics`.

Under gunicorn every worker writes prometheus-client multiprocess files into the folder named by
PROMETHEUS_MULTIPROC_DIR (set by `vid2mp3 serve` before forking); `/metrics` merges them. Without
that variable (tests, the embedded mode) the metrics live in the process' default registry.
`/metrics` adds the gauges of `web.state_metrics` (jobs by state, queue depths) read per scrape.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time

import falcon

log = logging.getLogger("vid2mp3.http")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_lock = threading.Lock()
_instruments = None


def _metrics():
    """Create the instruments once per process, after the multiprocess folder is known."""
    global _instruments
    with _lock:
        if _instruments is None:
            from prometheus_client import Counter, Histogram

            _instruments = (
                Counter(
                    "http_requests_total",
                    "HTTP requests by method, route template and status code.",
                    ["method", "route", "status"],
                ),
                Histogram(
                    "http_request_duration_seconds",
                    "Seconds from request to response headers, by route template.",
                    ["method", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
                ),
            )
        return _instruments


_CONVERTER = re.compile(r"\{(\w+):[^}]*\}")


class MetricsMiddleware:
    """Record and log every request under its route template (`/jobs/{job_id}`)."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = time.perf_counter()

    def process_response(self, req, resp, resource, req_succeeded: bool) -> None:
        requests, duration = _metrics()
        # Without converters: `/jobs/{job_id:uuid}` is labelled `/jobs/{job_id}`.
        route = _CONVERTER.sub(r"{\1}", req.uri_template) if req.uri_template else "unmatched"
        status = resp.status.split(" ", 1)[0] if isinstance(resp.status, str) else str(resp.status)
        requests.labels(req.method, route, status).inc()
        started = getattr(req.context, "started", None)
        if started is None:
            return
        seconds = time.perf_counter() - started
        duration.labels(req.method, route).observe(seconds)
        # One line per request; the route template, not the path, so no ids or tokens leak.
        log.info(
            "%s %s %s %.1fms",
            req.method,
            route,
            status,
            seconds * 1000,
            extra={"method": req.method, "route": route, "status": int(status)},
        )


class MetricsResource:
    """`GET /metrics`: all web workers' metrics, and the jobs' and queues' gauges.

    `sessions` and `queues` (an `actors.queues.QueueAdmin`, optional) feed the gauges read at
    scrape time (`web.state_metrics`).
    """

    auth_required = False

    def __init__(self, sessions, queues=None) -> None:
        self._sessions = sessions
        self._queues = queues
        self._state = None

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        from prometheus_client import (
            CONTENT_TYPE_LATEST,
            REGISTRY,
            CollectorRegistry,
            generate_latest,
            multiprocess,
        )

        registry = REGISTRY
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        _metrics()
        if self._state is None:  # on first use, like the instruments (two racing are harmless)
            from web.state_metrics import StateCollector

            self._state = CollectorRegistry()
            self._state.register(StateCollector(self._sessions, self._queues))
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = generate_latest(registry) + generate_latest(self._state)
