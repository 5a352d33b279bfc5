"""GridFS writes: chunks go out about a megabyte at a time, in the layout pymongo's GridFS reads."""

from __future__ import annotations

import io
import os
import uuid

import gridfs
import pymongo
import pytest
from pymongo import monitoring

from core.storage.gridfs import GridFSStore
from core.storage.gridfs_chunks import BATCH_BYTES, CHUNK_SIZE


class ChunkInserts(monitoring.CommandListener):
    """Record the bytes of chunk data each `insert` command to a `*.chunks` collection carries."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def started(self, event) -> None:
        if event.command_name == "insert" and event.command["insert"].endswith(".chunks"):
            self.sizes.append(sum(len(doc["data"]) for doc in event.command["documents"]))

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


@pytest.fixture
def store_url(mongo_uri, with_database):
    """Return the URL of a database of the test's own on this run's secantusdb; drop it after."""
    url = with_database(mongo_uri, f"w_{uuid.uuid4().hex[:12]}")
    yield url
    with pymongo.MongoClient(url) as client:
        client.drop_database(client.get_default_database())


def test_chunks_are_sent_in_small_batches(store_url, big_data):
    inserts = ChunkInserts()
    with GridFSStore(store_url, client_options={"event_listeners": [inserts]}) as store:
        store.put("videos", "batched", io.BytesIO(big_data), filename="big.bin")
    assert sum(inserts.sizes) == len(big_data)
    # pymongo's GridIn would send 20 MB in one insert; each batch now stays near a megabyte.
    assert max(inserts.sizes) < BATCH_BYTES + CHUNK_SIZE
    assert len(inserts.sizes) >= len(big_data) // (BATCH_BYTES + CHUNK_SIZE)


def test_pymongo_reads_what_the_store_wrote(store_url):
    data = os.urandom(3 * CHUNK_SIZE + 1234)
    with GridFSStore(store_url) as store:
        store.put("mp3s", "layout", io.BytesIO(data), filename="a.mp3", content_type="audio/mpeg")
    with pymongo.MongoClient(store_url) as client:
        bucket = gridfs.GridFSBucket(client.get_default_database(), "mp3s")
        with bucket.open_download_stream("layout") as grid_out:
            assert grid_out.read() == data
            assert grid_out.length == len(data)
            assert grid_out.chunk_size == CHUNK_SIZE
            assert grid_out.filename == "a.mp3"
