"""Give each job attempt a private temp folder, and clean up after workers that died.

A folder is named `<job id>.<pid>.<random>` under the worker's temp root, and removed on every
way out of the step. A worker killed with SIGKILL cannot clean up, so `reap_orphans` (run when a
job is claimed and by the sweeper) removes folders whose process is gone, after killing any
process still using them (an ffmpeg left behind by the dead worker).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


@contextlib.contextmanager
def job_workdir(root: Path, job_id: str) -> Iterator[Path]:
    """Yield a fresh folder for one attempt of a job's step; remove it on the way out."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{job_id}.{os.getpid()}.{secrets.token_hex(4)}"
    path.mkdir(mode=0o700)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphans(root: Path, job_id: str | None = None) -> list[Path]:
    """Remove work folders (of `job_id`, or all) whose owning process no longer exists."""
    reaped: list[Path] = []
    try:
        entries = list(root.iterdir())
    except FileNotFoundError:
        return reaped
    for path in entries:
        parts = path.name.split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            continue
        if job_id is not None and parts[0] != job_id:
            continue
        if _alive(int(parts[1])):
            continue
        killed = kill_processes_using(path)
        shutil.rmtree(path, ignore_errors=True)
        log.warning("job %s: removed the work folder of dead process %s", parts[0], parts[1])
        if killed:
            log.warning("job %s: killed %d orphan process(es)", parts[0], killed)
        reaped.append(path)
    return reaped


def kill_processes_using(path: Path) -> int:
    """SIGKILL the processes (ffmpeg) whose command line names `path`; return how many."""
    needle = str(path).encode()
    count = 0
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
                count += 1
    return count
