"""Fixtures for the blob-store contract: one `store` per backend, private to the test."""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import pymongo
import pytest

from core.storage import open_store

BIG = 20 * 1024 * 1024  # more than 16 MB: bigger than one BSON document, many GridFS chunks


def _with_database(uri: str, name: str) -> str:
    """Return `uri` with its database path set to `name`, keeping host list and query."""
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


@pytest.fixture(scope="session")
def with_database():
    return _with_database


@pytest.fixture(scope="session")
def big_data() -> bytes:
    return os.urandom(BIG)


@pytest.fixture(params=["gridfs", "local"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def store_url(backend, request, tmp_path) -> str:
    if backend == "gridfs":
        mongo_uri = request.getfixturevalue("mongo_uri")
        return _with_database(mongo_uri, f"t_{uuid.uuid4().hex[:12]}")
    return (tmp_path / "blobs").as_uri()


@pytest.fixture
def store(store_url, backend):
    store = open_store(store_url)
    yield store
    if backend == "gridfs":
        with pymongo.MongoClient(store_url) as client:
            client.drop_database(client.get_default_database())
    store.close()


@pytest.fixture
def leftovers(backend, store_url):
    """Return a function listing what a failed put may have left behind in a bucket.

    GridFS: files documents and chunks (the chunk collection is where orphans would hide);
    local: every file of the bucket folder, temp files included.
    """
    if backend == "gridfs":
        client = pymongo.MongoClient(store_url)
        db = client.get_default_database()

        def check(bucket: str) -> list:
            files = [d["_id"] for d in db[f"{bucket}.files"].find({}, {"_id": 1})]
            chunks = [(d["files_id"], d["n"]) for d in db[f"{bucket}.chunks"].find({}, {"data": 0})]
            return files + chunks

        yield check
        client.close()
    else:
        root = urlsplit(store_url).path

        def check(bucket: str) -> list:
            return sorted(os.listdir(os.path.join(root, bucket)))

        yield check
