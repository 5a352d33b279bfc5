"""Cover art and waveform through the real pipeline: upload over HTTP, worker, routes, delete."""

from __future__ import annotations

import io
import subprocess

from PIL import Image

from blobs import has_blob
from conversion import probe
from conversion.ffmpeg import ffmpeg_exe
from forms import upload

RED = (220, 20, 20)


def red_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), RED).save(out, "PNG")
    return out.getvalue()


def embedded_picture(store, job_id: str, tmp_path) -> Image.Image:
    """Return the MP3's ID3 picture, extracted with ffmpeg."""
    mp3 = tmp_path / f"{job_id}.mp3"
    mp3.write_bytes(b"".join(store.open_range("mp3s", job_id)))
    assert probe(mp3).cover_art
    jpg = tmp_path / f"{job_id}.jpg"
    subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(mp3), "-an", "-c:v", "copy"]
        + [str(jpg)],
        check=True,
    )
    return Image.open(jpg).convert("RGB")


def test_auto_cover_and_waveform(web, pipeline_settings, run_worker, store, media, h, tmp_path):
    client, auth = web
    run_worker(pipeline_settings)
    result = upload(client, auth, [("file", "clip.mp4", media.video.read_bytes())])
    assert result.status_code == 202, result.text
    job_id = result.json["id"]

    job = h.wait_for(job_id, "done", "failed")

    assert job.state == "done", job.reason
    picture = embedded_picture(store, job_id, tmp_path)
    assert picture.width == 64  # the still of the 64x48 test video, not scaled up
    waveform = client.simulate_get(f"/jobs/{job_id}/waveform", headers=auth)
    assert waveform.status_code == 200, waveform.text
    peaks = waveform.json
    assert peaks["length"] == 1000 and len(peaks["data"]) == 2000
    # The 3 s 440 Hz tone (lavfi's 1/8 scale) is there from start to end, swinging about +-16.
    assert all(high >= 10 for high in peaks["data"][1:-20:2])


def test_uploaded_cover_is_what_the_mp3_carries(
    web, pipeline_settings, run_worker, store, media, h, tmp_path
):
    client, auth = web
    run_worker(pipeline_settings)
    parts = [("cover", "poster.png", red_png()), ("file", "clip.mp4", media.video.read_bytes())]
    result = upload(client, auth, parts)
    assert result.status_code == 202, result.text
    job_id = result.json["id"]

    job = h.wait_for(job_id, "done", "failed")

    assert job.state == "done", job.reason
    picture = embedded_picture(store, job_id, tmp_path)
    assert picture.size == (64, 48)
    red, green, blue = picture.resize((1, 1)).getpixel((0, 0))
    assert red > 180 and green < 60 and blue < 60, (red, green, blue)
    # The cover goes with the video once the conversion no longer needs it.
    assert not has_blob(store, "videos", f"{job_id}-cover")


def test_deleting_the_job_removes_all_four_blobs(
    web, pipeline_settings, run_worker, store, media, h
):
    client, auth = web
    run_worker(pipeline_settings)
    parts = [
        ("cover", "poster.png", red_png()),
        ("keep_video", None, b"true"),
        ("file", "clip.mp4", media.video.read_bytes()),
    ]
    result = upload(client, auth, parts)
    assert result.status_code == 202, result.text
    job_id = result.json["id"]
    assert h.wait_for(job_id, "done", "failed").state == "done"
    blobs = [
        ("videos", job_id),
        ("videos", f"{job_id}-cover"),
        ("mp3s", job_id),
        ("mp3s", f"{job_id}-waveform"),
    ]
    assert [has_blob(store, *blob) for blob in blobs] == [True] * 4

    deleted = client.simulate_delete(f"/jobs/{job_id}", headers=auth)

    assert deleted.status_code in (200, 204), deleted.text
    assert [has_blob(store, *blob) for blob in blobs] == [False] * 4
