"""In a real browser: of an MP4 with AAC sound the page sends the audio only (mp4box.js), and
the MP3 has the very same samples as the MP3 of the whole video."""

from __future__ import annotations

import subprocess

import pytest
from playwright.sync_api import expect

from media import FFMPEG, decoded_md5
from ui.conftest import sign_in

TIMEOUT_MS = 60_000
# Record the size of each upload's request body, as the browser counts it while sending
# (Playwright does not see the size of a body made of files).
MEASURE_UPLOADS = """() => {
  window.uploadBodySizes = [];
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (body) {
    this.upload.addEventListener("load", (event) => window.uploadBodySizes.push(event.total));
    return send.call(this, body);
  };
}"""


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """A 6 s 640x360 H.264 video at 1 Mbit/s with 128 kbit/s AAC, its moov box at the end."""
    path = tmp_path_factory.mktemp("audio-only") / "talk.mp4"
    subprocess.run(
        [FFMPEG, "-nostdin", "-loglevel", "error", "-y"]
        + ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=6"]
        + ["-f", "lavfi", "-i", "sine=frequency=330:sample_rate=44100:duration=6"]
        + ["-c:v", "libx264", "-preset", "ultrafast", "-b:v", "1M", "-pix_fmt", "yuv420p"]
        + ["-c:a", "aac", "-b:a", "128k", "-shortest", str(path)],
        check=True,
    )
    return path


def _finished(page, job_id: str) -> dict:
    for _ in range(TIMEOUT_MS // 200):
        job = page.request.get(f"/jobs/{job_id}").json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        page.wait_for_timeout(200)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def _save_mp3(page, job: dict, path):
    assert job["state"] == "done", job
    path.write_bytes(page.request.get(job["links"]["mp3"]).body())
    return path


def test_the_page_sends_the_audio_only_and_the_mp3_is_the_same(
    new_page, service, video, tmp_path, errors
):
    page = new_page()
    sign_in(page, service.create_user())
    page.goto("/convert")
    page.get_by_label("Cover picture").select_option("none")
    page.evaluate(MEASURE_UPLOADS)
    page.get_by_label("Choose videos…").set_input_files(str(video))
    download = page.get_by_role("link", name="Download MP3 of talk.mp4")
    expect(download).to_be_visible(timeout=TIMEOUT_MS)
    (body,) = page.evaluate("window.uploadBodySizes")
    assert 0 < body * 5 < video.stat().st_size, (body, video.stat().st_size)
    href = page.get_by_role("link", name="Details of talk.mp4").get_attribute("href")
    audio_job = _finished(page, href.rsplit("/", 1)[1])
    assert audio_job["filename"] == "talk.mp4"
    # The page sends it over tus: the stored bytes are exactly the bytes sent, nothing more.
    assert audio_job["video_size"] == body

    # The whole video, sent as is through the API, gives an MP3 of the very same samples.
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    whole = page.request.post(
        "/upload",
        headers={"X-CSRF-Token": csrf, "Origin": service.url},
        multipart={
            "cover": "none",
            "file": {"name": "talk.mp4", "mimeType": "video/mp4", "buffer": video.read_bytes()},
        },
    )
    assert whole.status == 202, whole.text()
    whole_job = _finished(page, whole.json()["id"])
    assert whole_job["video_size"] == video.stat().st_size
    from_audio = _save_mp3(page, audio_job, tmp_path / "audio.mp3")
    from_whole = _save_mp3(page, whole_job, tmp_path / "whole.mp3")
    assert decoded_md5(from_audio) == decoded_md5(from_whole)
    assert from_audio.read_bytes() == from_whole.read_bytes()
    assert errors == []
