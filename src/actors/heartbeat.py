"""Keep this worker process's row in the workers registry (`core.workers`) fresh.

A Dramatiq middleware: the row is written when the worker boots, then every few seconds from a
daemon thread, with the jobs the worker's threads hold now and how many messages it finished
or failed. A database outage only delays the beat; the admin page shows the worker as gone
when beats stop for longer than WORKER_GONE_SECONDS. Each beat also deletes the rows of workers
silent for longer than WORKER_PRUNE_SECONDS.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid

from dramatiq.common import q_name
from dramatiq.middleware import Middleware

from actors.runtime import Runtime
from actors.timeline import HOST
from core import workers

log = logging.getLogger(__name__)


class WorkerHeartbeat(Middleware):
    """Write the worker's heartbeat row at boot and every `interval` seconds until shutdown."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.interval = workers.heartbeat_interval(runtime.settings.worker_gone_seconds)
        self._lock = threading.Lock()
        self._current: dict[str, str] = {}
        self._done = 0
        self._failed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._static: dict = {}
        self._id = ""

    def before_worker_boot(self, broker, worker) -> None:
        queues = worker.consumer_whitelist or broker.get_declared_queues()
        self._static = {
            "host": HOST,
            "pid": os.getpid(),
            "queues": ",".join(sorted({q_name(q) for q in queues})),
            "threads": worker.worker_threads,
        }
        self._id = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop.clear()
        self._beat(started=True)
        self._thread = threading.Thread(target=self._run, name="worker-heartbeat", daemon=True)
        self._thread.start()

    def before_process_message(self, broker, message) -> None:
        with self._lock:
            self._current[message.message_id] = str(message.args[0]) if message.args else ""

    def after_process_message(self, broker, message, *, result=None, exception=None) -> None:
        with self._lock:
            self._current.pop(message.message_id, None)
            if exception is None:
                self._done += 1
            else:
                self._failed += 1

    def after_skip_message(self, broker, message) -> None:
        with self._lock:
            self._current.pop(message.message_id, None)

    def before_worker_shutdown(self, broker, worker) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._beat()

    def _beat(self, started: bool = False) -> None:
        with self._lock:
            values = {
                **self._static,
                "current_jobs": sorted(set(self._current.values()) - {""}),
                "jobs_done": self._done,
                "jobs_failed": self._failed,
            }
        try:
            with self.runtime.sessions() as session:
                workers.prune(session, self.runtime.settings.worker_prune_seconds)
                workers.beat(session, self._id, **values)
        except Exception:
            log.warning("could not write the worker's heartbeat", exc_info=started)
