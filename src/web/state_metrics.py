"""Gauges read at scrape time: jobs by state from the database, queue depths from the broker.

They describe shared state, not this process, so they are not kept in prometheus-client's
multiprocess files: whichever web process answers `/metrics` asks the database (one grouped count
over the `(state, updated_at)` index) and the broker (`actors.queues.QueueAdmin`, as the admin
overview does). Several web pods report the same numbers; the dashboard takes their `max`.
A source that fails is reported as `vid2mp3_metrics_source_up{source} 0` instead of failing the
scrape, so the request metrics still arrive while the database or the broker is away.

`/metrics` needs no login, so the readings are reused for `MIN_INTERVAL` seconds: however often
it is asked, a process queries the database and the broker at most once in that time.
"""

from __future__ import annotations

import logging
import threading
import time

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from core.db import session_scope
from core.models import Job
from core.states import JobState

log = logging.getLogger(__name__)
MIN_INTERVAL = 2.0

_JOBS = ("vid2mp3_jobs", "Jobs in the database by state.", ["state"])
_QUEUES = (
    "vid2mp3_queue_messages",
    "Messages in each broker queue: ready, delayed (.DQ) and dead-lettered (.XQ).",
    ["queue", "kind"],
)
_UP = (
    "vid2mp3_metrics_source_up",
    "1 when this scrape could read the source (database, broker), else 0.",
    ["source"],
)


def _family(spec: tuple[str, str, list[str]]) -> GaugeMetricFamily:
    name, documentation, labels = spec
    return GaugeMetricFamily(name, documentation, labels=labels)


class StateCollector:
    """A prometheus-client collector of the jobs' states and the broker's queue depths."""

    def __init__(self, sessions, queues=None) -> None:
        self._sessions = sessions
        self._queues = queues
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._families: list[GaugeMetricFamily] = []

    def describe(self) -> list[GaugeMetricFamily]:
        # Given, so that registering the collector does not run its queries.
        return [_family(spec) for spec in (_JOBS, _QUEUES, _UP)]

    def collect(self) -> list[GaugeMetricFamily]:
        with self._lock:
            if time.monotonic() - self._read_at >= MIN_INTERVAL:
                self._families = list(self._read())
                self._read_at = time.monotonic()
            return self._families

    def _read(self):
        up = _family(_UP)
        sources = [("database", self._jobs)]
        if self._queues is not None:
            sources.append(("broker", self._queue_depths))
        for source, read in sources:
            try:
                yield read()
                up.add_metric([source], 1)
            except Exception as error:  # reported as a gauge, see the module docstring
                log.warning("metrics: cannot read the %s: %s", source, error)
                up.add_metric([source], 0)
        yield up

    def _jobs(self) -> GaugeMetricFamily:
        with session_scope(self._sessions) as session:
            counts = dict(
                session.execute(select(Job.state, func.count()).group_by(Job.state)).all()
            )
        family = _family(_JOBS)
        for state in JobState:
            family.add_metric([state.value], counts.get(state.value, 0))
        return family

    def _queue_depths(self) -> GaugeMetricFamily:
        family = _family(_QUEUES)
        for depth in self._queues.depths():
            for kind in ("ready", "delayed", "dead"):
                family.add_metric([depth["queue"], kind], depth[kind])
        return family
