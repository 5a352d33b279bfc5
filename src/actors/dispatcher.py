"""Pay what a backing service's outage left owed, every few seconds in each worker process.

Two debts, both listed by `core.outbox`: jobs whose message never reached the broker (the upload
or retry that accepted them could not publish), which are sent as soon as the broker takes them
again; and done jobs whose e-mail is due, which are tried once more (`actors.notify.resend_email`).
With fair sharing (FAIR_QUEUE), queued jobs are held on purpose and go out through
`core.fairqueue.release`, each user's in turn; this thread runs it too, so a job held while the
broker was away or no worker was live goes out within a round.
Several workers running this at once are safe: claims dedupe messages, and each e-mail is taken
with a compare-and-set. The sweeper stays the last resort for jobs stuck without progress.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from actors.errors import SERVICE_AWAY, describe_error
from actors.notify import resend_email
from actors.runtime import Runtime
from core import fairqueue, outbox
from core.db import reading
from core.states import Step

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 2.0


class Dispatcher(threading.Thread):
    """The dispatching thread; `start()` after the worker boots, `stop()` before it stops."""

    def __init__(self, runtime: Runtime, enqueue: Callable[[str, Step], None]) -> None:
        super().__init__(name="vid2mp3-dispatcher", daemon=True)
        self.runtime = runtime
        self.enqueue = enqueue
        self._stop_event = threading.Event()
        self._failing = False

    def run(self) -> None:
        while not self._stop_event.wait(INTERVAL_SECONDS):
            try:
                self.dispatch()
            except Exception as error:
                # A service is still away: say so once, not every round.
                if not self._failing:
                    log.warning(
                        "dispatcher: will retry: %s (%s)",
                        describe_error(error),
                        type(error).__name__,
                        exc_info=not isinstance(error, SERVICE_AWAY),
                    )
                self._failing = True
            else:
                self._failing = False

    def dispatch(self) -> None:
        """Send the unsent messages, then the due e-mails."""
        settings = self.runtime.settings
        if settings.fair_queue and fairqueue.any_held(self.runtime.sessions):
            fairqueue.release(self.runtime.sessions, settings, self.enqueue)
        # Unchanged for longer than the upload's own publish may take, so that one goes first.
        grace = settings.broker_timeout_seconds + 1
        # Reads outside a transaction: an idle round costs these reads and nothing else.
        with reading(self.runtime.sessions) as connection:
            unsent = outbox.unsent_jobs(connection, grace, queued=not settings.fair_queue)
            due = outbox.due_emails(connection)
        if unsent:
            with self.runtime.sessions() as session:
                for job_id, step in unsent:
                    self.enqueue(job_id, step)
                    outbox.mark_enqueued(session, job_id)
                    log.info("job %s: message for %s sent after a broker outage", job_id, step)
        for job_id, due_at in due:
            if self._stop_event.is_set():
                return
            resend_email(self.runtime, job_id, due_at)

    def stop(self) -> None:
        self._stop_event.set()
