"""`vid2mp3 submit`: log in, upload a file with a progress bar, wait for the job, fetch the MP3.

A personal access token (`--token` or VID2MP3_TOKEN, scopes read and upload) replaces the login.
The upload goes over tus (`vid2mp3.resumable`): run the same command again after an
interruption and it sends only what the server does not have yet. Only the file's audio is
uploaded when that is smaller (`--whole-file` sends everything).

Standard library and the bundled ffmpeg only, so the client works anywhere the package installs.
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import http.client
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from conversion.cli import ProgressBar
from vid2mp3 import resumable
from vid2mp3.audio_only import smaller_audio

CHUNK = 1 << 20
FINISHED = {"done", "failed", "cancelled"}


class ClientError(Exception):
    """The server refused a request; the message is its problem detail."""


class Connection:
    """A small HTTP helper bound to one server URL."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ClientError(f"expected an http(s) URL, got {url!r}")
        factory = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        self._connect = lambda: factory(parts.hostname, parts.port, timeout=60)
        # A service under a path prefix (https://host/vid2mp3): every path goes below it.
        self._root = parts.path.rstrip("/")
        self.base = f"{parts.scheme}://{parts.netloc}{self._root}"
        self.token: str | None = None

    def exchange(self, method: str, path: str, headers=None, body=None):
        """Send one request; return (status, headers with lower-case names, body), any status.

        A lost connection raises OSError (http.client's errors are OSErrors or turned into one).
        """
        path = urlsplit(path).path or path  # a Location may be absolute
        if not path.startswith(self._root + "/"):  # an app path, not a Location the server gave
            path = self._root + path
        connection = self._connect()
        headers = dict(headers or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except http.client.HTTPException as error:
            raise OSError(f"the connection broke: {type(error).__name__}") from error
        finally:
            connection.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def request(self, method: str, path: str, headers=None, body=None):
        connection = self._connect()
        headers = dict(headers or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        connection.request(method, self._root + path, body=body, headers=headers)
        response = connection.getresponse()
        if response.status >= 400:
            raise ClientError(_problem_detail(response))
        return connection, response

    def json(self, method: str, path: str, headers=None, body=None) -> dict:
        connection, response = self.request(method, path, headers, body)
        try:
            return json.loads(response.read())
        finally:
            connection.close()


def submit(
    file: str,
    url: str,
    user: str | None,
    output: str | None,
    token: str | None = None,
    whole_file: bool = False,
) -> int:
    """Run the whole round trip; return 0 on a downloaded MP3, 1 otherwise.

    Only the audio is sent when that is smaller (see vid2mp3.audio_only), unless `whole_file`.
    """
    source = Path(file)
    if not source.is_file():
        print(f"vid2mp3: no such file: {file}", file=sys.stderr)
        return 2
    server = Connection(url)
    server.token = token or os.environ.get("VID2MP3_TOKEN")
    try:
        if not server.token:
            server.token = _log_in(server, user)
        with contextlib.nullcontext(source) if whole_file else smaller_audio(source) as sent:
            job_id = _upload(server, sent, source)
        job = _wait(server, job_id)
        if job["state"] != "done":
            print(f"vid2mp3: job {job['id']} {job['state']}: {job.get('reason')}", file=sys.stderr)
            return 1
        target = Path(output) if output else source.with_suffix(".mp3")
        _download(server, job, target)
    except (ClientError, resumable.UploadRefused, OSError) as error:
        print(f"vid2mp3: {error}", file=sys.stderr)
        return 1
    print(f"saved {target}", file=sys.stderr)
    return 0


def _log_in(server: Connection, user: str | None) -> str:
    email = user or input("E-mail: ")
    password = os.environ.get("VID2MP3_PASSWORD") or getpass.getpass("Password: ")
    credentials = base64.b64encode(f"{email}:{password}".encode()).decode()
    return server.json("POST", "/login", {"Authorization": f"Basic {credentials}"})["access_token"]


def _upload(server: Connection, sent: Path, origin: Path) -> str:
    """Send `sent` (`origin` or its audio) over tus under `origin`'s name, resuming an
    interrupted run; return the job's id."""
    if sent != origin:
        print(f"sending the audio only: {sent.stat().st_size} bytes", file=sys.stderr)
    bar = _bar("upload")
    job_id = resumable.upload(
        server.exchange,
        server.base,
        sent,
        {"filename": origin.name},
        resumable.UploadState(),
        lambda done, total: bar.update(0, 100 * done / max(total, 1)),
        origin,
    )
    bar.close()
    return job_id


def _wait(server: Connection, job_id: str) -> dict:
    bar = _bar("convert")
    while True:
        job = server.json("GET", f"/jobs/{job_id}")
        bar.update(0, job["progress"] if job["state"] != "done" else 100)
        if job["state"] in FINISHED:
            bar.close()
            return job
        time.sleep(1)


def _download(server: Connection, job: dict, target: Path) -> None:
    connection, response = server.request("GET", f"/jobs/{job['id']}/mp3")
    size = int(response.getheader("Content-Length") or 0)
    bar = _bar("download")
    partial = target.with_name(target.name + ".part")
    try:
        received = 0
        with partial.open("wb") as out:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                received += len(chunk)
                bar.update(0, 100 * received / max(size, 1))
        partial.replace(target)
    finally:
        connection.close()
        partial.unlink(missing_ok=True)
    bar.close()


def _bar(label: str) -> ProgressBar:
    return ProgressBar(1, sys.stderr, enabled=True, label=label)


def _problem_detail(response) -> str:
    raw = response.read()
    try:
        return f"{response.status}: {json.loads(raw)['detail']}"
    except (ValueError, KeyError, TypeError):
        return f"{response.status}: {response.reason}"
