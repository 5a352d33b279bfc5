"""In a real browser, the Convert page's tus upload survives a cut connection and a reload.

A proxy cuts the upload's connection in the middle of its body; for the reload, Chromium's
network is slowed (DevTools network emulation) so that the upload is still running when the
page reloads. The stored video's sha256 must equal the file's, and the figures (where the
upload resumed, bytes sent twice) are printed.
"""

from __future__ import annotations

import hashlib
import os
import re

import pytest
from playwright.sync_api import expect

from core.storage import open_store
from cutproxy import CuttingProxy
from media import make_clip
from testservices import free_port
from ui.conftest import running_service, sign_in

TIMEOUT_MS = 90_000
SLOW = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 256 * 1024}
FAST = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """The embedded service, keeping videos after conversion so that the test can hash them."""
    data_dir = tmp_path_factory.mktemp("embedded-resume")
    with running_service(data_dir, free_port(), KEEP_VIDEOS="true") as running:
        yield running


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """A real clip followed by 3 MiB of random bytes: about 12 s at the slowed speed."""
    folder = tmp_path_factory.mktemp("resume-media")
    # Not .mp4: the page would send only the audio of an MP4 (audio_only.js), not these bytes.
    path = folder / "long take.mkv"
    path.write_bytes(make_clip(folder / "head.mp4", seconds=1).read_bytes() + os.urandom(3 << 20))
    return path


class Traffic:
    """The tus requests the page sends and the offsets the server answers."""

    def __init__(self, page) -> None:
        self.patch_offsets: list[int] = []
        self.head_offsets: list[int] = []
        page.on("request", self._request)
        page.on("response", self._response)

    def _request(self, request) -> None:
        if request.method == "PATCH" and "/files/" in request.url:
            self.patch_offsets.append(int(request.headers["upload-offset"]))

    def _response(self, response) -> None:
        if response.request.method == "HEAD" and "/files/" in response.url and response.ok:
            self.head_offsets.append(int(response.headers["upload-offset"]))


def emulate(page, conditions: dict) -> None:
    network = page.context.new_cdp_session(page)
    network.send("Network.enable")
    network.send("Network.emulateNetworkConditions", conditions)


def sent_percent(page) -> float:
    return page.locator("progress[data-field=progress]").first.evaluate("(bar) => bar.value")


def wait_until_sent(page, percent: float) -> None:
    # Polled from here: the page's CSP (no eval) refuses page.wait_for_function.
    for _ in range(TIMEOUT_MS // 100):
        if sent_percent(page) > percent:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the upload never passed {percent} %")


def finish_and_check(page, service, video, name: str) -> str:
    """Wait for the job of `video`; check the stored bytes; return the job's id."""
    details = page.get_by_role("link", name=f"Details of {name}")
    expect(details).to_be_visible(timeout=TIMEOUT_MS)
    job_id = details.get_attribute("href").rsplit("/", 1)[1]
    store = open_store((service.data_dir / "blobs").as_uri())
    try:
        stored = hashlib.sha256(b"".join(store.open_range("videos", job_id))).hexdigest()
    finally:
        store.close()
    assert stored == hashlib.sha256(video.read_bytes()).hexdigest()
    return job_id


def report(label: str, size: int, before: float, resumed_at: int) -> None:
    seen = round(before / 100 * size)
    print(
        f"\n{label}: file {size} B; the page had counted {seen} B sent; the server had kept "
        f"{resumed_at} B and the upload went on from there; sent twice about "
        f"{max(seen - resumed_at, 0)} B"
    )


def test_a_connection_cut_mid_upload_resumes_by_itself(chromium, service, video):
    # The browser talks to the service through a proxy that cuts the upload's first request
    # after 1 MiB of its body: the page retries on its own and goes on from the server's offset.
    # (DevTools' offline emulation cannot do this: it lets a running upload finish.)
    port = int(service.url.rsplit(":", 1)[1])
    proxy = CuttingProxy(("127.0.0.1", port), cut_after=1 << 20)
    context = chromium.new_context(base_url=f"http://127.0.0.1:{proxy.port}")
    try:
        page = context.new_page()
        sign_in(page, service.create_user())
        traffic = Traffic(page)
        page.goto("/convert")
        page.get_by_label("Choose videos…").set_input_files(str(video))
        finish_and_check(page, service, video, video.name)
    finally:
        context.close()
        proxy.close()
    assert proxy.cut_done.is_set()
    assert traffic.patch_offsets[0] == 0
    resumed_at = traffic.patch_offsets[-1]
    size = video.stat().st_size
    sent_twice = proxy.body_bytes - size
    print(
        f"\nbrowser, connection cut: file {size} B, cut after {1 << 20} B of the first PATCH, "
        f"PATCH offsets {traffic.patch_offsets}, body bytes that reached the server "
        f"{proxy.body_bytes} B, sent twice {sent_twice} B"
    )
    # tus-js-client went on from what the server had kept (gunicorn may drop the last few KB
    # it had buffered when the connection broke). Under load the server may not have read the
    # cut request yet when the page asks for the offset; then it rightly starts again from 0.
    # Either way the stored bytes are the file's (finish_and_check).
    assert resumed_at == 0 or (1 << 20) - 64 * 1024 <= resumed_at <= 1 << 20, traffic.patch_offsets
    # Chrome re-sends a request cut on a kept-alive connection once by itself (the server
    # refuses that copy, 409, but its bytes travel); nothing else is sent twice.
    assert sent_twice <= size + 64 * 1024


def test_a_reloaded_page_resumes_when_the_file_is_chosen_again(new_page, service, video):
    page = new_page()
    sign_in(page, service.create_user())
    page.goto("/convert")
    emulate(page, SLOW)
    page.get_by_label("Choose videos…").set_input_files(str(video))
    wait_until_sent(page, 25)
    before = sent_percent(page)
    page.reload()
    emulate(page, FAST)
    expect(page.get_by_role("status")).to_have_text(
        re.compile(r"Not finished: long take\.mkv \(3\.\d MB\)\. Choose the same file again")
    )
    traffic = Traffic(page)
    page.get_by_label("Choose videos…").set_input_files(str(video))
    finish_and_check(page, service, video, video.name)
    resumed_at = traffic.patch_offsets[-1]
    assert resumed_at > 0, traffic.patch_offsets  # not sent again from the start
    report("browser, page reload", video.stat().st_size, before, resumed_at)
