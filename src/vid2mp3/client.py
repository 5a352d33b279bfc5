"""`vid2mp3 submit`: log in, upload a file with a progress bar, wait for the job, fetch the MP3.

A personal access token (`--token` or VID2MP3_TOKEN, scopes read and upload) replaces the login.
Only the file's audio is uploaded when that is smaller (`--whole-file` sends everything).

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
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from conversion.cli import ProgressBar
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
        self.token: str | None = None

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
            job = _upload(server, sent, source.name)
        job = _wait(server, job["id"])
        if job["state"] != "done":
            print(f"vid2mp3: job {job['id']} {job['state']}: {job.get('reason')}", file=sys.stderr)
            return 1
        target = Path(output) if output else source.with_suffix(".mp3")
        _download(server, job, target)
    except (ClientError, OSError) as error:
        print(f"vid2mp3: {error}", file=sys.stderr)
        return 1
    print(f"saved {target}", file=sys.stderr)
    return 0


def _log_in(server: Connection, user: str | None) -> str:
    email = user or input("E-mail: ")
    password = os.environ.get("VID2MP3_PASSWORD") or getpass.getpass("Password: ")
    credentials = base64.b64encode(f"{email}:{password}".encode()).decode()
    return server.json("POST", "/login", {"Authorization": f"Basic {credentials}"})["access_token"]


def _upload(server: Connection, source: Path, name: str) -> dict:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{_quoted(name)}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = source.stat().st_size
    if source.name != name:
        print(f"sending the audio only: {size} bytes", file=sys.stderr)
    bar = _bar("upload")

    def body():
        yield head
        sent = 0
        with source.open("rb") as stream:
            while chunk := stream.read(CHUNK):
                sent += len(chunk)
                bar.update(0, 100 * sent / max(size, 1))
                yield chunk
        yield tail

    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(head) + size + len(tail)),
    }
    job = server.json("POST", "/upload", headers, body())
    bar.close()
    return job


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


def _quoted(name: str) -> str:
    # Browsers send the UTF-8 name inside quotes, escaping only quotes and line breaks.
    return name.replace('"', "%22").replace("\r", "").replace("\n", "")


def _problem_detail(response) -> str:
    raw = response.read()
    try:
        return f"{response.status}: {json.loads(raw)['detail']}"
    except (ValueError, KeyError, TypeError):
        return f"{response.status}: {response.reason}"
