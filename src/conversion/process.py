"""Run one ffmpeg process under supervision.

Owns the process lifecycle: ffmpeg starts in its own session (so its process group can be killed
as a whole and a terminal's Ctrl-C does not reach it directly), both pipes are drained
continuously from one thread with ``selectors`` (no pipe deadlock, no helper threads), and the
deadline and cancel request are checked several times a second. On any way out other than a
normal exit, including exceptions raised by callbacks and ``KeyboardInterrupt``, the whole group
gets SIGTERM, then SIGKILL, and is reaped so no zombie remains.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import Cancelled, DeadlineExceeded

CancelCheck = threading.Event | Callable[[], bool]

# How often the deadline and cancel request are checked while ffmpeg produces no output.
POLL_INTERVAL = 0.1
# How long ffmpeg may take to exit after SIGTERM before it gets SIGKILL.
TERM_GRACE = 2.0
_READ_SIZE = 65536


@dataclass(frozen=True)
class Completed:
    """The outcome of an ffmpeg run that was not stopped by us."""

    returncode: int
    stderr: str


class _Capture:
    """Keep the first ``head`` and the last ``tail`` bytes of a stream, dropping the middle."""

    def __init__(self, head: int, tail: int) -> None:
        self._head_limit = head
        self._tail_limit = tail
        self._head = bytearray()
        self._tail = bytearray()
        self.truncated = False

    def feed(self, data: bytes) -> None:
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data:
            self._tail += data
            if len(self._tail) > self._tail_limit:
                self.truncated = True
                del self._tail[: len(self._tail) - self._tail_limit]

    def text(self) -> str:
        gap = b"\n[...]\n" if self.truncated else b""
        return bytes(self._head + gap + self._tail).decode("utf-8", errors="replace")


def is_cancelled(cancel: CancelCheck | None) -> bool:
    """Tell whether a cancel request (an Event or a callable) is set."""
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


def run_ffmpeg(
    args: list[str],
    *,
    deadline: float | None = None,
    cancel: CancelCheck | None = None,
    on_stdout_line: Callable[[str], None] | None = None,
    stderr_head: int = 0,
    stderr_tail: int = 65536,
) -> Completed:
    """Run ``args`` to completion and return its exit status and (part of) its stderr.

    ``deadline`` is an absolute :func:`time.monotonic` value. Raise :class:`DeadlineExceeded` or
    :class:`Cancelled` after killing the process group when the deadline passes or ``cancel``
    is set.
    """
    proc = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    finished = False
    try:
        stderr = _Capture(stderr_head, stderr_tail)
        _pump(proc, stderr, deadline, cancel, on_stdout_line)
        finished = True
        return Completed(proc.returncode, stderr.text())
    finally:
        if not finished:
            kill_group(proc)
        proc.stdout.close()
        proc.stderr.close()


def _pump(
    proc: subprocess.Popen[bytes],
    stderr: _Capture,
    deadline: float | None,
    cancel: CancelCheck | None,
    on_stdout_line: Callable[[str], None] | None,
) -> None:
    """Drain both pipes until ffmpeg exits, enforcing the deadline and the cancel request."""
    pending = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ, "stdout")
        selector.register(proc.stderr, selectors.EVENT_READ, "stderr")
        while True:
            _check(deadline, cancel)
            if not selector.get_map():
                # Both pipes are closed; ffmpeg is exiting. Keep checking while we wait for it.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=POLL_INTERVAL)
                    return
                continue
            for key, _ in selector.select(_timeout(deadline)):
                data = os.read(key.fd, _READ_SIZE)
                if not data:
                    selector.unregister(key.fileobj)
                elif key.data == "stderr":
                    stderr.feed(data)
                elif on_stdout_line is not None:
                    pending += data
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        on_stdout_line(line.decode("utf-8", errors="replace").strip())


def _timeout(deadline: float | None) -> float:
    if deadline is None:
        return POLL_INTERVAL
    return max(0.0, min(POLL_INTERVAL, deadline - time.monotonic()))


def _check(deadline: float | None, cancel: CancelCheck | None) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise DeadlineExceeded()
    if is_cancelled(cancel):
        raise Cancelled()


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Terminate ``proc``'s whole process group (SIGTERM, then SIGKILL) and reap ``proc``."""
    for sig, grace in ((signal.SIGTERM, TERM_GRACE), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
    # The group may still hold stragglers after the leader exits; make sure they are gone too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
