"""run_ffmpeg(): the supervisor kills whole process groups, even stubborn ones."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from conversion import process
from conversion.errors import Cancelled, DeadlineExceeded


def _processes_with(marker: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        try:
            cmdline = Path("/proc", pid, "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(pid)
    return found


def test_stubborn_group_is_killed(monkeypatch) -> None:
    monkeypatch.setattr(process, "TERM_GRACE", 0.2)
    marker = f"marker-{uuid.uuid4().hex}"
    # A leader that ignores SIGTERM, with a grandchild in its group: both must go.
    script = f"trap '' TERM; sleep 30 & sleep 31; wait # {marker}"
    with pytest.raises(DeadlineExceeded):
        process.run_ffmpeg(["sh", "-c", script], deadline=time.monotonic() + 0.3)
    assert _processes_with(marker) == []


def test_cancel_callable() -> None:
    marker = f"marker-{uuid.uuid4().hex}"
    calls = iter([False, False, True])
    with pytest.raises(Cancelled):
        process.run_ffmpeg(["sh", "-c", f"sleep 30 # {marker}"], cancel=lambda: next(calls))
    assert _processes_with(marker) == []


def test_completed_run_keeps_head_and_tail_of_stderr() -> None:
    lines: list[str] = []
    script = "echo a=1; echo b=2; printf HEAD >&2; yes | head -c 200000 >&2; printf TAIL >&2"
    result = process.run_ffmpeg(
        ["sh", "-c", f"{script}; exit 3"],
        on_stdout_line=lines.append,
        stderr_head=4,
        stderr_tail=4,
    )
    assert result.returncode == 3
    assert lines == ["a=1", "b=2"]
    assert result.stderr.startswith("HEAD") and result.stderr.endswith("TAIL")
    assert "[...]" in result.stderr
