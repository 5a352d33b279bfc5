"""Upload with a cover: auto by default, none on request, or an uploaded image kept by the job."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from blobs import stored_ids
from core.job_blobs import cover_blob_id
from forms import upload
from web.resources import upload as upload_module


def png(width: int = 40, height: int = 30) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 10)).save(out, "PNG")
    return out.getvalue()


def test_cover_defaults_to_auto_and_takes_none(client, auth, clip):
    default = upload(client, auth, [("file", "a.mp4", clip.read_bytes())])
    assert default.json["options"]["cover"] == "auto"
    none = upload(client, auth, [("file", "a.mp4", clip.read_bytes()), ("cover", None, b"none")])
    assert none.status_code == 202, none.text
    assert none.json["options"]["cover"] == "none"


def test_uploaded_cover_is_kept_next_to_the_video(client, auth, user, clip, services):
    image = png()
    parts = [("cover", "poster.png", image), ("file", "a.mp4", clip.read_bytes())]
    result = upload(client, auth, parts)
    assert result.status_code == 202, result.text
    job_id = result.json["id"]
    assert result.json["options"]["cover"] == "image"
    assert stored_ids(services.store, "videos") == sorted([job_id, f"{job_id}-cover"])
    info = services.store.info("videos", cover_blob_id(job_id))
    assert info.size == len(image)
    assert info.metadata["kind"] == "cover"


@pytest.mark.parametrize(
    ("parts", "status", "detail"),
    [
        ([("cover", "poster.png", b"not an image at all")], 422, "upload a JPEG, PNG"),
        ([("cover", "a.png", png()), ("cover", "b.png", png())], 400, "at most one cover"),
        ([("cover", "a.png", png()), ("cover", None, b"none")], 422, "not both"),
        ([("cover", None, b"poster")], 422, "must be auto or none"),
    ],
)
def test_bad_covers_are_refused_and_leave_nothing(
    client, auth, user, clip, services, parts, status, detail
):
    result = upload(client, auth, [("file", "a.mp4", clip.read_bytes()), *parts])
    assert result.status_code == status, result.text
    assert detail in result.json["detail"]
    assert stored_ids(services.store, "videos") == []


def test_too_large_cover_is_413(client, auth, user, clip, services, monkeypatch):
    monkeypatch.setattr(upload_module, "MAX_COVER_BYTES", 100)
    parts = [("cover", "big.png", png(400, 400)), ("file", "a.mp4", clip.read_bytes())]
    result = upload(client, auth, parts)
    assert result.status_code == 413
    assert "cover image is larger" in result.json["detail"]
    assert stored_ids(services.store, "videos") == []
