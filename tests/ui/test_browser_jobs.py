"""In a real browser: upload with options, watch the job finish, play, download, fail, retry,
cancel an upload, and see only one's own jobs. The embedded service really converts."""

from __future__ import annotations

import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from conversion import probe
from media import make_clip
from ui.conftest import sign_in

TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser-media")
    not_media = folder / "notes.mp4"
    not_media.write_text("These are my notes, not a video.\n" * 20)
    poster = folder / "poster.png"
    Image.new("RGB", (64, 48), (200, 40, 40)).save(poster)
    return {
        "poster": poster,
        "clip": make_clip(folder / "tone clip.mp4", seconds=4),
        "silent": make_clip(folder / "silent.mp4", seconds=1, audio=False),
        "not_media": not_media,
        # Incompressible, so that a throttled upload takes long enough to cancel; not named
        # .mp4, so that the page sends it whole rather than its audio alone.
        "big": _big_file(folder / "big.mkv"),
    }


def _big_file(path):
    head = make_clip(path.with_name("head.mp4"), seconds=1).read_bytes()
    path.write_bytes(head + bytes(range(256)) * (3 * 4096))
    return path


def choose(page, path) -> None:
    page.goto("/convert")
    page.get_by_label("Choose videos…").set_input_files(str(path))


def job_id_of(page, name: str) -> str:
    href = page.get_by_role("link", name=f"Details of {name}").get_attribute("href")
    return href.rsplit("/", 1)[1]


def wait_for_job(page, job_id: str, started_again) -> dict:
    """Poll the API (as the page's session) until the job ran again and finished."""
    for _ in range(TIMEOUT_MS // 200):
        job = page.request.get(f"/jobs/{job_id}").json()
        if started_again(job) and job["state"] in ("done", "failed", "cancelled"):
            return job
        page.wait_for_timeout(200)
    raise AssertionError(f"job {job_id} did not run again: {job}")


def test_upload_with_options_then_play_and_download_without_reload(
    new_page, service, media, tmp_path, errors
):
    page = new_page()
    sign_in(page, service.create_user())
    page.goto("/convert")
    page.get_by_label("Bitrate", exact=True).select_option("128")
    page.get_by_label("Mono").check()
    page.get_by_label("End at").fill("3")
    page.get_by_label("Title").fill("Test tone")
    page.get_by_label("Cover picture").select_option(label="An image of mine")
    page.get_by_label("Cover image file").set_input_files(str(media["poster"]))
    page.get_by_label("Choose videos…").set_input_files(str(media["clip"]))
    download = page.get_by_role("link", name="Download MP3 of tone clip.mp4")
    expect(download).to_be_visible(timeout=TIMEOUT_MS)
    job = page.request.get(f"/jobs/{job_id_of(page, 'tone clip.mp4')}").json()
    assert job["options"]["cover"] == "image"

    # The jobs page shows it done; its player knows the trimmed length.
    page.get_by_role("link", name="Jobs").click()
    page.get_by_role("button", name="Play tone clip.mp4").click()
    player = page.get_by_label("Player for tone clip.mp4", exact=True)
    player.evaluate(
        "audio => audio.readyState >= 1 || new Promise(r => audio.onloadedmetadata = r)"
    )
    assert player.evaluate("audio => audio.duration") == pytest.approx(3.0, abs=0.15)

    with page.expect_download() as started:
        page.get_by_role("link", name="Download MP3 of tone clip.mp4").click()
    assert started.value.suggested_filename == "tone clip.mp3"
    mp3 = tmp_path / "downloaded.mp3"
    started.value.save_as(mp3)
    info = probe(mp3)
    assert info.container.startswith("mp3")
    assert info.audio_streams[0].codec == "mp3"
    assert info.audio_streams[0].channels == 1
    assert info.audio_streams[0].bitrate == 128
    assert info.duration == pytest.approx(3.0, abs=0.15)
    assert info.tags.get("title") == "Test tone"
    assert info.cover_art

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete tone clip.mp4").click()
    expect(page.get_by_role("link", name="Download MP3 of tone clip.mp4")).to_have_count(0)
    assert errors == []


def test_refused_files_are_explained_in_words(new_page, service, media):
    page = new_page()
    sign_in(page, service.create_user())
    choose(page, media["not_media"])
    expect(page.get_by_role("alert")).to_have_text(
        "This is not a video or audio file vid2mp3 can read.", timeout=TIMEOUT_MS
    )
    page.get_by_label("Start at").fill("0:05")
    page.get_by_label("End at").fill("2")
    page.get_by_label("Choose videos…").set_input_files(str(media["clip"]))
    expect(page.get_by_role("alert").first).to_have_text(
        "Check “End at”: must be after start.", timeout=TIMEOUT_MS
    )
    page.get_by_role("link", name="Jobs").click()
    expect(page.get_by_role("heading", name="No jobs yet")).to_be_visible()


def test_a_failed_job_is_retried_from_the_jobs_page(new_page, service, media):
    page = new_page()
    sign_in(page, service.create_user())
    choose(page, media["silent"])
    expect(page.get_by_role("alert")).to_have_text(
        "The file has no audio track.", timeout=TIMEOUT_MS
    )
    job_id = job_id_of(page, "silent.mp4")
    page.get_by_role("link", name="Jobs").click()
    before = page.request.get(f"/jobs/{job_id}").json()
    assert before["state"] == "failed"
    with page.expect_response(re.compile(rf"/jobs/{job_id}/retry$")) as retried:
        page.get_by_role("button", name="Retry silent.mp4").click()
    assert retried.value.status == 202
    # It runs again (and fails again, for the same reason); the list follows without a reload.
    after = wait_for_job(
        page, job_id, lambda job: (job["finished_at"] or "") > before["finished_at"]
    )
    assert after["state"] == "failed"
    expect(page.get_by_role("button", name="Retry silent.mp4")).to_be_visible()
    expect(page.get_by_text("The file has no audio track.")).to_be_visible()


def test_an_upload_in_flight_can_be_cancelled(new_page, service, media):
    page = new_page()
    sign_in(page, service.create_user())
    page.goto("/convert")
    network = page.context.new_cdp_session(page)
    network.send("Network.enable")
    network.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 256 * 1024},
    )
    page.get_by_label("Choose videos…").set_input_files(str(media["big"]))
    expect(page.get_by_text(re.compile(r"of 3\.\d MB · .*/s · .* left"))).to_be_visible()
    page.get_by_role("button", name="Cancel upload of big.mkv").click()
    expect(page.get_by_text("Upload cancelled.")).to_be_visible()
    network.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    assert page.request.get("/jobs").json()["total"] == 0


def test_another_user_sees_none_of_the_first_users_jobs(new_page, service, media):
    owner = new_page()
    sign_in(owner, service.create_user())
    choose(owner, media["clip"])
    expect(owner.get_by_role("link", name="Download MP3 of tone clip.mp4")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    job_id = job_id_of(owner, "tone clip.mp4")

    other = new_page()
    sign_in(other, service.create_user())
    expect(other.get_by_role("heading", name="No jobs yet")).to_be_visible()
    expect(other.get_by_text("tone clip.mp4")).to_have_count(0)
    other.goto(f"/job/{job_id}")
    expect(other.get_by_role("heading", name="Not found")).to_be_visible()
    assert other.request.get(f"/jobs/{job_id}/mp3").status == 404
