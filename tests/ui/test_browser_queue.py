"""In a real browser: jobs that wait for a conversion slot show their place in the queue.

The embedded service (`vid2mp3 run`, two worker threads: two conversion slots) gets six audio
files at once. Its ffmpeg waits a minute before each conversion, re-encoding or stream copy (a
wrapper script), so whatever the machine's load four of them are still waiting when the pages
are read: the jobs page and a waiting job's page say how many jobs are ahead of it
(`queue_position` of GET /jobs and /jobs/{id}).
"""

from __future__ import annotations

import re
import subprocess

import pytest
from playwright.sync_api import expect

from media import FFMPEG
from testservices import free_port
from ui.conftest import running_service, sign_in

TIMEOUT_MS = 60_000
FILES = 6
WAITING = re.compile(r"^(\d+ jobs? ahead|Next in line)")


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """The embedded service whose conversions start a minute late (stopped with the service)."""
    wrapper = tmp_path_factory.mktemp("ffmpeg") / "ffmpeg"
    wrapper.write_text(
        # A conversion is the run that reports progress and writes a file (these MP3 tones are
        # stream-copied, not re-encoded); the decode check that also reports progress writes
        # nowhere (-f null).
        "#!/bin/sh\n"
        'case "$*" in *"-f null"*) ;; *"-progress pipe:1"*) sleep 60;; esac\n'
        f'exec "{FFMPEG}" "$@"\n'
    )
    wrapper.chmod(0o755)
    with running_service(
        tmp_path_factory.mktemp("embedded-queue"), free_port(), IMAGEIO_FFMPEG_EXE=str(wrapper)
    ) as running:
        yield running


@pytest.fixture(scope="module")
def long_files(tmp_path_factory) -> list:
    """Six short tones, each with bytes of its own."""
    folder = tmp_path_factory.mktemp("queue-media")
    first = folder / "tone-1.mp3"
    subprocess.run(
        [FFMPEG, "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         "sine=frequency=440:sample_rate=22050:duration=5", "-ac", "1",
         "-c:a", "libmp3lame", "-b:a", "32k", str(first)],
        check=True,
    )  # fmt: skip
    copies = [first]
    for number in range(2, FILES + 1):
        # Each its own title, so its bytes differ: a copy of a done job's file would be an
        # instant repeat, done at once instead of waiting.
        copies.append(folder / f"tone-{number}.mp3")
        subprocess.run(
            [FFMPEG, "-nostdin", "-loglevel", "error", "-y", "-i", str(first), "-c", "copy",
             "-metadata", f"title=Tone {number}", str(copies[-1])],
            check=True,
        )  # fmt: skip
    return copies


def test_waiting_jobs_show_how_many_jobs_are_ahead(new_page, service, long_files):
    page = new_page()
    sign_in(page, service.create_user())
    page.goto("/convert")
    page.get_by_label("Choose videos…").set_input_files([str(path) for path in long_files])
    for path in long_files:
        expect(page.get_by_role("link", name=f"Details of {path.name}")).to_be_visible(
            timeout=TIMEOUT_MS
        )

    # The files upload side by side, so which ones got the two slots first is not known.
    page.get_by_role("link", name="Jobs").click()
    waiting = page.get_by_role("listitem").filter(has=page.get_by_text(WAITING)).first
    expect(waiting).to_be_visible(timeout=TIMEOUT_MS)

    waiting.get_by_role("link").first.click()
    expect(page.locator("#job-wait")).to_have_text(WAITING, timeout=TIMEOUT_MS)
