"""tus over real HTTP (gunicorn, two workers): tuspy resumes after a dropped connection.

A proxy between client and server cuts the connection in the middle of the first PATCH; a new
tuspy client, finding the upload's URL in its URL storage, resumes from the server's offset.
The proxy counts the body bytes that reached the server, so the test knows (and prints) how
many bytes were sent twice.
"""

from __future__ import annotations

import hashlib
import os

import pytest
import requests
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError
from tusclient.storage.filestorage import FileStorage

from core.storage import open_store
from cutproxy import CuttingProxy
from testservices import TEST_PASSWORD

MIB = 1 << 20


@pytest.fixture
def server(start_web):
    return start_web(workers=2)


@pytest.mark.parametrize("checksum", [False, True], ids=["plain", "checksum"])
def test_tuspy_resumes_across_a_new_client_after_a_dropped_connection(
    server, user, clip, tmp_path, mongo_uri, checksum
):
    token = requests.post(
        f"{server}/login", json={"email": user.email, "password": TEST_PASSWORD}, timeout=30
    ).json()["access_token"]
    video = tmp_path / "long.mp4"
    video.write_bytes(clip.read_bytes() + os.urandom(6 * MIB))  # a real head, a big file
    data = video.read_bytes()
    port = int(server.rsplit(":", 1)[1])
    proxy = CuttingProxy(("127.0.0.1", port), cut_after=3 * MIB + 12_345)
    storage = FileStorage(str(tmp_path / "tus-urls.json"))
    headers = {"Authorization": f"Bearer {token}"}

    def uploader(retries: int):
        client = tus_client.TusClient(f"http://127.0.0.1:{proxy.port}/files", headers=headers)
        return client.uploader(
            str(video),
            chunk_size=4 * MIB,
            metadata={"filename": "long.mp4", "bitrate": "96"},
            store_url=True,
            url_storage=storage,
            upload_checksum=checksum,
            retries=retries,
            retry_delay=1,
        )

    try:
        first = uploader(retries=0)  # the first client dies with its connection
        with pytest.raises(TusCommunicationError):
            first.upload_chunk()
        assert proxy.cut_done.is_set()
        sent_before = proxy.body_bytes
        # Resume once the server has answered the cut request, as a person retrying would.
        assert proxy.cut_answered.wait(timeout=60)
        # A new client: it finds the upload's URL in its storage and asks for the offset.
        second = uploader(retries=5)
        assert second.url == first.url
        resumed_at = second.offset
        second.upload()
    finally:
        proxy.close()
    upload_id = second.url.rsplit("/", 1)[1]
    sent_twice = proxy.body_bytes - len(data)
    print(
        f"\ntus resume: file {len(data)} B, cut after {sent_before} B reached the server, "
        f"resumed at {resumed_at} B, body bytes sent in all {proxy.body_bytes} B, "
        f"sent twice {sent_twice} B"
    )
    if checksum:
        # The cut chunk fails its checksum (460) and is dropped: it is sent again whole.
        assert (resumed_at, sent_twice) == (0, sent_before)
    else:
        # Every byte that reached the server was kept: nothing is sent twice.
        assert (resumed_at, sent_twice) == (sent_before, 0)
    job = requests.get(f"{server}/jobs/{upload_id}", headers=headers, timeout=30).json()
    assert (job["filename"], job["options"]["bitrate"]) == ("long.mp4", 96)
    store = open_store(f"{mongo_uri}/serve_{os.getpid()}")
    try:
        stored = hashlib.sha256(b"".join(store.open_range("videos", upload_id))).hexdigest()
    finally:
        store.close()
    assert stored == hashlib.sha256(data).hexdigest()
