"""Housekeeping on a timer in each worker process: stuck jobs, dead workers' folders, throttles,
abandoned uploads.

Every min(60, STUCK_JOB_SECONDS / 4) seconds: re-send the message of jobs stuck without progress
(`core.jobs.sweep_stuck_jobs`, safe in many workers at once), remove the temp folders of
workers that died, delete `login_throttle` rows whose window and lock ended long ago, and
remove resumable uploads that expired (`core.uploads.sweep_expired`) with their bytes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from actors.errors import describe_error
from actors.runtime import Runtime
from actors.workdir import reap_orphans
from core import throttle, uploads
from core.jobs import sweep_stuck_jobs
from core.states import Step

log = logging.getLogger(__name__)


class Sweeper(threading.Thread):
    """The housekeeping thread; `start()` after the worker boots, `stop()` before it stops."""

    def __init__(self, runtime: Runtime, enqueue: Callable[[str, Step], None]) -> None:
        super().__init__(name="vid2mp3-sweeper", daemon=True)
        self.runtime = runtime
        self.enqueue = enqueue
        self.interval = min(60.0, runtime.settings.stuck_job_seconds / 4)
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                self.sweep()
            except Exception as error:
                # The database or broker may be down for a while; the next round tries again.
                log.warning(
                    "sweeper: this round failed (%s); retrying later", describe_error(error)
                )

    def sweep(self) -> None:
        """Run one round of housekeeping."""
        settings = self.runtime.settings
        sweep_stuck_jobs(self.runtime.sessions, self.enqueue, settings.stuck_job_seconds)
        reap_orphans(self.runtime.work_root)
        with self.runtime.sessions() as session:
            # A row older than one lockout holds neither a lock nor a window that still counts.
            throttle.purge(session, older_than_seconds=settings.login_lockout_seconds)
            session.commit()
        uploads.sweep_expired(self.runtime.sessions, self.runtime.store)

    def stop(self) -> None:
        self._stop_event.set()
