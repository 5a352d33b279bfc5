"""Send a file to the server over tus 1.0 so that an interrupted `vid2mp3 submit` resumes.

The upload's URL is kept in a small state file under the user's cache folder
(`$XDG_CACHE_HOME/vid2mp3/uploads.json`, else `~/.cache/...`), keyed by the server and the
file's absolute path, size and modification time: running the same command again asks the
server how far the upload got (HEAD) and sends only the rest. A changed file gets a new
upload; an entry the server no longer knows (expired, removed) is dropped and started over.
Within one run, a dropped connection is retried a few times from the server's offset.

Standard library only, as the rest of the client.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

TUS = {"Tus-Resumable": "1.0.0"}
# One PATCH carries at most this much; the server keeps what arrives of a cut one anyway.
PATCH_BYTES = 64 << 20
READ_BYTES = 1 << 20
RETRIES = 5
# How often a resumed run asks whether the interrupted one still holds the upload (~1 s apart;
# the server frees a silent holder after a minute).
SETTLE_TRIES = 90


class UploadRefused(Exception):
    """The server answered a tus request with an error; `status` and the problem detail."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status


def state_file() -> Path:
    """Return the file that maps local files to their unfinished uploads' URLs."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "vid2mp3" / "uploads.json"


class UploadState:
    """The upload URLs of unfinished uploads, by server and file (path, size, mtime)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or state_file()

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self, data: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f"{self.path.name}.{os.getpid()}")
        partial.write_text(json.dumps(data, indent=1))
        partial.replace(self.path)

    @staticmethod
    def key(server: str, source: Path) -> str:
        facts = source.stat()
        return f"{server} {source.resolve()} {facts.st_size} {facts.st_mtime_ns}"

    def get(self, key: str) -> str | None:
        return self._load().get(key)

    def put(self, key: str, url: str) -> None:
        data = self._load()
        data[key] = url
        self._save(data)

    def forget(self, key: str) -> None:
        data = self._load()
        if data.pop(key, None) is not None:
            self._save(data)


def upload(
    request: Callable,
    server: str,
    source: Path,
    fields: dict[str, str],
    state: UploadState,
    on_progress: Callable[[int, int], None],
    origin: Path | None = None,
) -> str:
    """Send `source` (resuming an earlier attempt); return the upload's id, the job's id.

    `request(method, path, headers, body)` returns (status, headers dict, body bytes) and
    raises OSError for a lost connection. `origin`: the file the user named when `source` is
    made from it afresh each run (its audio, bit for bit the same): the upload is known by it.
    """
    size = source.stat().st_size
    key = UploadState.key(server, source)
    if origin is not None and origin != source:
        key = f"{UploadState.key(server, origin)} audio {size}"
    location = state.get(key)
    offset = _offset(request, location) if location else None
    if offset is None:
        location = _create(request, size, {"filename": source.name, **fields})
        state.put(key, location)
        offset = 0
    else:
        offset = _settle(request, location, offset)
    on_progress(offset, size)
    failures = 0
    while offset < size:
        try:
            offset = _patch(request, location, source, offset, size, on_progress)
        except OSError:
            failures += 1
            if failures > RETRIES:
                raise
            time.sleep(min(2**failures, 10))
            with contextlib.suppress(OSError):  # still away: the next PATCH finds out
                known = _offset(request, location)
                if known is None:
                    state.forget(key)
                    raise UploadRefused(
                        404, "the server lost the upload; run the command again"
                    ) from None
                offset = known
    state.forget(key)
    return location.rstrip("/").rsplit("/", 1)[1]


def _create(request: Callable, size: int, metadata: dict[str, str]) -> str:
    encoded = ",".join(
        f"{name} {base64.b64encode(value.encode()).decode()}" for name, value in metadata.items()
    )
    status, headers, body = request(
        "POST", "/files", {**TUS, "Upload-Length": str(size), "Upload-Metadata": encoded}, None
    )
    if status != 201:
        raise UploadRefused(status, _detail(body))
    return headers["location"]


def _offset(request: Callable, location: str) -> int | None:
    """Return how many bytes the server has; None when it no longer knows the upload."""
    status, headers, body = request("HEAD", location, dict(TUS), None)
    if status in (404, 410):
        return None
    if status != 200:
        raise UploadRefused(status, _detail(body))
    return int(headers["upload-offset"])


def _settle(request: Callable, location: str, offset: int) -> int:
    """Return the offset to resume from, once no request of ours still holds the upload.

    A PATCH without bytes takes the upload's lock and lets it go: 204 means free. Until the
    server notices that the interrupted run's connection is gone, it answers 423 (or 409 once
    it has recorded that run's bytes), and a real PATCH would send its bytes for nothing.
    """
    for _ in range(SETTLE_TRIES):
        status, _, body = request("PATCH", location, _patch_headers(offset, 0), b"")
        if status == 204:
            return offset
        if status not in (409, 423):
            raise UploadRefused(status, _detail(body))
        time.sleep(1 if status == 423 else 0)
        offset = _offset(request, location)
        if offset is None:
            raise UploadRefused(404, "the server lost the upload; run the command again")
    raise UploadRefused(423, "the upload stays busy on the server; try again in a minute")


def _patch(request, location, source: Path, offset: int, size: int, on_progress) -> int:
    length = min(PATCH_BYTES, size - offset)

    def body():
        sent = 0
        with source.open("rb") as stream:
            stream.seek(offset)
            while sent < length:
                chunk = stream.read(min(READ_BYTES, length - sent))
                if not chunk:
                    raise OSError("the file became shorter while it was sent")
                yield chunk
                sent += len(chunk)  # handed to the connection
                on_progress(offset + sent, size)

    status, answer, data = request("PATCH", location, _patch_headers(offset, length), body())
    if status in (409, 423):
        # A cut request of ours still holds the upload (until the server notices), or the
        # upload moved on: wait a moment and ask where it is.
        time.sleep(1 if status == 423 else 0)
        with contextlib.suppress(UploadRefused):
            known = _offset(request, location)
            if known is not None:
                return known
    if status != 204:
        raise UploadRefused(status, _detail(data))
    return int(answer["upload-offset"])


def _patch_headers(offset: int, length: int) -> dict[str, str]:
    return {
        **TUS,
        "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream",
        "Content-Length": str(length),
    }


def _detail(body: bytes) -> str:
    try:
        return json.loads(body)["detail"]
    except (ValueError, KeyError, TypeError):
        return "the server refused the upload"
