"""The admin pages in a real browser: filters, a timeline after a forced retry, bulk retry,
requeue from the dead-letter queue (all of a queue, or one letter), a worker live then gone
then pruned, the overview refreshing itself (and not while hidden); axe-core on every admin page.

ffmpeg is forced to fail: the service's IMAGEIO_FFMPEG_EXE is a wrapper that kills its own
transcoding process (a transient failure, so Dramatiq retries) once per file in an "arm"
folder, and runs the real ffmpeg otherwise.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid

import pytest
from playwright.sync_api import expect

from conversion.ffmpeg import ffmpeg_exe
from media import make_clip
from testservices import free_port
from ui.conftest import PASSWORD, VID2MP3, axe_violations, running_service, sign_in

TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def arm(tmp_path_factory):
    return tmp_path_factory.mktemp("ffmpeg-arm")


@pytest.fixture(scope="module")
def service(tmp_path_factory, arm):
    """The embedded service with the ffmpeg wrapper, fast retries and a short worker silence."""
    wrapper = tmp_path_factory.mktemp("ffmpeg") / "ffmpeg"
    wrapper.write_text(
        "#!/bin/sh\n"
        'case "$*" in *libmp3lame*)\n'
        f'  shot=$(ls "{arm}" | head -n 1)\n'
        f'  if [ -n "$shot" ]; then rm -f "{arm}/$shot"; kill -9 $$; fi;;\n'
        "esac\n"
        f'exec "{ffmpeg_exe()}" "$@"\n'
    )
    wrapper.chmod(0o755)
    with running_service(
        tmp_path_factory.mktemp("embedded"),
        free_port(),
        IMAGEIO_FFMPEG_EXE=str(wrapper),
        RETRY_MAX="1",
        RETRY_MIN_BACKOFF_MS="100",
        RETRY_MAX_BACKOFF_MS="300",
        WORKER_GONE_SECONDS="3",
        WORKER_PRUNE_SECONDS="20",
    ) as running:
        yield running


@pytest.fixture
def fail_next(arm):
    """Make the next `n` transcodings fail (killed)."""

    def load(n: int) -> None:
        for _ in range(n):
            (arm / uuid.uuid4().hex).touch()

    return load


@pytest.fixture
def admin_page(new_page, service):
    page = new_page(bypass_csp=True)  # axe is injected as a script
    sign_in(page, service.admin)
    return page


@pytest.fixture
def upload(new_page, service, tmp_path):
    """Upload a one-second clip as `email` through the API; return the job id once finished."""

    def send(email: str, name: str) -> str:
        request = new_page().context.request
        token = request.post("/login", data={"email": email, "password": PASSWORD}).json()[
            "access_token"
        ]
        clip = make_clip(tmp_path / name, seconds=1)
        auth = {"Authorization": f"Bearer {token}"}
        job = request.post(
            "/upload",
            headers=auth,
            multipart={
                "file": {"name": name, "mimeType": "video/mp4", "buffer": clip.read_bytes()},
                # Its own title: the same clip again would be an instant repeat, never converted.
                "title": name,
            },
        ).json()
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while time.monotonic() < deadline:
            state = request.get(f"/jobs/{job['id']}", headers=auth).json()["state"]
            if state in ("done", "failed"):
                return job["id"]
            time.sleep(0.2)
        raise AssertionError(f"job {job['id']} did not finish")

    return send


def reload_until(page, path: str, selector: str, text: str) -> None:
    """Load `path` again until `selector` has `text` (admin pages are not live)."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        page.goto(path)
        if page.locator(selector).first.inner_text().strip() == text:
            return
        time.sleep(0.3)
    expect(page.locator(selector)).to_have_text(text)


def check(page, screenshots, name: str) -> None:
    """Assert axe finds nothing serious and save a screenshot of the page."""
    page.wait_for_load_state("load")
    assert axe_violations(page) == [], name
    page.screenshot(path=screenshots / f"admin-{name}.png", full_page=True)


def test_a_timeline_shows_a_forced_retry(admin_page, service, upload, fail_next, screenshots):
    fail_next(1)
    job_id = upload(service.admin, "retried.mp4")
    page = admin_page
    page.goto(f"/admin/jobs/{job_id}")
    rows = page.locator("#timeline tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.nth(0)).to_contain_text("convert")
    expect(rows.nth(0)).to_contain_text("retry")
    expect(rows.nth(0)).to_contain_text(re.compile(r"pid \d+"))
    expect(rows.nth(1)).to_contain_text("done")
    expect(rows.nth(3)).to_contain_text("notify")
    check(page, screenshots, "job")
    page.goto("/admin")
    expect(page.locator('dd[data-state="done"]')).not_to_have_text("0")
    check(page, screenshots, "overview")


def test_filters_requeue_from_dead_letters_and_bulk_retry(
    admin_page, service, upload, fail_next, screenshots
):
    email = service.create_user()
    fail_next(2)  # both attempts: the job fails and its message is dead-lettered
    first = upload(email, "first.mp4")
    page = admin_page

    page.goto("/admin/jobs")
    page.get_by_label("State").select_option("failed")
    page.get_by_label("User e-mail contains").fill(email)
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#total")).to_have_text("1")
    expect(page.locator(f'tr[data-job="{first}"]')).to_be_visible()
    page.get_by_label("Error contains").fill("no such error text")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#total")).to_have_text("0")
    check(page, screenshots, "jobs")

    page.goto("/admin")
    dead = page.locator('#queues tr[data-queue="video"] .dead')
    expect(dead).to_have_text("1")
    page.get_by_role("button", name="Requeue the dead letters of video").click()
    expect(page.get_by_role("status")).to_contain_text("1 dead letter(s) taken out")
    expect(dead).to_have_text("0")
    reload_until(page, f"/admin/jobs/{first}", "#job-state", "done")

    fail_next(2)
    second = upload(email, "second.mp4")
    page.goto(f"/admin/jobs?state=failed&user={email}")
    expect(page.locator(f'tr[data-job="{second}"]')).to_be_visible()
    page.get_by_role("button", name="Retry every failed job that matches").click()
    expect(page.get_by_role("status")).to_contain_text("1 failed job(s) sent to run again")
    reload_until(page, f"/admin/jobs/{second}", "#job-state", "done")


def test_a_worker_shows_live_then_gone(admin_page, service, screenshots):
    env = {**service.env, "METRICS_PORT": str(free_port())}
    worker = subprocess.Popen(
        [VID2MP3, "worker", "--processes", "1", "--threads", "1", "--queues", "mp3"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    page = admin_page
    live = page.locator("#workers tbody tr", has_text="live")
    try:
        page.goto("/admin/workers")
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while live.count() < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
            page.goto("/admin/workers")
        expect(live).to_have_count(2)
        check(page, screenshots, "workers")
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while live.count() > 1 and time.monotonic() < deadline:
        time.sleep(0.5)
        page.goto("/admin/workers")
    gone = page.locator("#workers tbody tr", has_text="gone")
    expect(gone).to_have_count(1)
    expect(page.locator("#workers tbody tr", has_text="live")).to_have_count(1)
    # Silent past WORKER_PRUNE_SECONDS, the embedded worker's beats delete its row.
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while gone.count() and time.monotonic() < deadline:
        time.sleep(1)
        page.goto("/admin/workers")
    expect(gone).to_have_count(0)
    expect(page.locator("#workers tbody tr", has_text="live")).to_have_count(1)


def test_the_tasks_page_and_a_users_404(admin_page, new_page, service, screenshots):
    admin_page.goto("/admin/tasks")
    expect(admin_page.get_by_role("heading", level=2)).to_contain_text("not available")
    check(admin_page, screenshots, "tasks")
    page = new_page()
    sign_in(page, service.create_user())
    assert page.goto("/admin").status == 404
    assert page.goto("/admin/workers").status == 404
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    assert os.path.exists(screenshots / "admin-tasks.png")


HIDE = """() => {
  Object.defineProperty(document, "hidden", { value: true, configurable: true });
  Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
  document.dispatchEvent(new Event("visibilitychange"));
}"""
SHOW = """() => {
  delete document.hidden;
  delete document.visibilityState;
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_the_overview_refreshes_itself_lists_dead_letters_and_pauses_while_hidden(
    admin_page, service, upload, fail_next, screenshots
):
    page = admin_page
    page.goto("/admin")
    page.evaluate("window.notReloaded = true")
    failed = page.locator('dd[data-state="failed"]')
    before = int(failed.inner_text())
    fail_next(2)  # both attempts: the job fails and its message is dead-lettered
    job_id = upload(service.create_user(), "dead letter.mp4")

    # No reload: the overview fetches itself and shows the failure and its dead letter.
    expect(failed).to_have_text(str(before + 1), timeout=TIMEOUT_MS)
    letter = page.locator("#dead-letters tbody tr", has=page.locator(f'a[href$="{job_id}"]'))
    expect(letter).to_be_visible(timeout=TIMEOUT_MS)
    expect(letter).to_contain_text("convert")
    expect(letter).to_contain_text("UTC")
    assert page.evaluate("window.notReloaded") is True
    check(page, screenshots, "overview-dead-letters")

    # Hidden: nothing is fetched; shown again: it catches up at once.
    fetched = []
    page.on("request", lambda request: request.resource_type == "fetch" and fetched.append(1))
    page.evaluate(HIDE)
    page.wait_for_timeout(12_000)  # more than two refresh intervals
    assert fetched == []
    with page.expect_request(lambda request: request.resource_type == "fetch"):
        page.evaluate(SHOW)

    letter.get_by_role("button", name=re.compile(r"^Requeue dead letter")).click()
    expect(page.get_by_role("status")).to_contain_text("1 dead letter(s) taken out")
    expect(letter).to_have_count(0)
    reload_until(page, f"/admin/jobs/{job_id}", "#job-state", "done")
