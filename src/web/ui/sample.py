"""`GET /sample.mp4`: the sample clip `vid2mp3 sample` writes, for signed-in users to try."""

from __future__ import annotations

import hashlib
import tempfile
import threading
from pathlib import Path

import falcon

from conversion.sample import write_sample

DOWNLOAD_NAME = "vid2mp3-sample.mp4"


class SampleResource:
    """Make the clip on first use (about a second of ffmpeg), then serve it from memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clip: tuple[bytes, str] | None = None

    def _sample(self) -> tuple[bytes, str]:
        with self._lock:
            if self._clip is None:
                with tempfile.TemporaryDirectory(prefix="vid2mp3-sample-") as folder:
                    body = write_sample(Path(folder) / DOWNLOAD_NAME).read_bytes()
                self._clip = (body, hashlib.sha256(body).hexdigest()[:32])
            return self._clip

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        body, etag = self._sample()
        resp.content_type = "video/mp4"
        resp.downloadable_as = DOWNLOAD_NAME
        resp.set_header("ETag", f'"{etag}"')
        resp.set_header("Cache-Control", "private, max-age=86400")
        resp.data = body
