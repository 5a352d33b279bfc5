"""One contract for every blob-store backend, run on real GridFS (secantusdb) and a real folder."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from blobs import has_blob, stored_ids
from core.storage import (
    BUCKETS,
    BlobExists,
    BlobNotFound,
    BlobStoreError,
    BlobTooLarge,
    StorageError,
    open_store,
)

BIG = 20 * 1024 * 1024  # as big_data in conftest.py: > 16 MB, many GridFS chunks


class PieceReader:
    """A source stream backed by a generator; `read(n)` hands out at most n bytes, often fewer
    (as a network stream does), and can raise OSError once `fail_after` bytes were handed out."""

    def __init__(self, data: bytes, piece: int = 300_000, fail_after: int | None = None):
        self._pieces = (data[i : i + piece] for i in range(0, len(data), piece))
        self._pending = b""
        self.handed_out = 0
        self.largest_read = 0
        self._fail_after = fail_after

    def read(self, n: int) -> bytes:
        if self._fail_after is not None and self.handed_out >= self._fail_after:
            raise OSError("client disconnected")
        if not self._pending:
            self._pending = next(self._pieces, b"")
        out, self._pending = self._pending[:n], self._pending[n:]
        self.handed_out += len(out)
        self.largest_read = max(self.largest_read, len(out))
        return out


def put_bytes(store, bucket, blob_id, data, **kw):
    kw.setdefault("filename", f"{blob_id}.bin")
    return store.put(bucket, blob_id, io.BytesIO(data), **kw)


def read_all(store, bucket, blob_id, start=0, end=None) -> bytes:
    return b"".join(store.open_range(bucket, blob_id, start, end))


def test_streamed_put_of_a_large_blob(store, big_data):
    reader = PieceReader(big_data)
    before = datetime.now(UTC) - timedelta(seconds=5)
    info = store.put(
        "videos",
        "big_1",
        reader,
        filename="holiday clip.mp4",
        content_type="video/mp4",
        metadata={"owner": 7, "job": "j1"},
        chunk_size=256 * 1024,
    )
    assert reader.handed_out == BIG
    assert reader.largest_read <= 256 * 1024  # never asked for more than one chunk at a time
    assert info.size == BIG
    assert info.sha256 == hashlib.sha256(big_data).hexdigest()
    assert (info.bucket, info.blob_id, info.filename) == ("videos", "big_1", "holiday clip.mp4")
    assert info.content_type == "video/mp4"
    assert info.metadata == {"owner": 7, "job": "j1"}
    assert info.created_at.tzinfo is not None
    assert info.created_at.utcoffset() == timedelta(0)
    assert before <= info.created_at <= datetime.now(UTC) + timedelta(seconds=5)

    again = store.info("videos", "big_1")
    assert again.size == info.size and again.sha256 == info.sha256
    assert again.metadata == info.metadata and again.content_type == "video/mp4"
    assert abs(again.created_at - info.created_at) < timedelta(seconds=1)

    whole = read_all(store, "videos", "big_1")
    assert hashlib.sha256(whole).digest() == hashlib.sha256(big_data).digest()


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, 10),  # start
        (261_119, 261_121),  # across a GridFS chunk boundary (255 KiB chunks)
        (BIG // 2 - 1000, BIG // 2 + 3_000_000),  # middle, many chunks
        (BIG - 17, None),  # end
        (BIG - 17, BIG + 100),  # end clamped to the size
        (0, None),  # whole
        (BIG, None),  # empty at the end
        (5, 5),  # empty range
    ],
)
def test_byte_ranges(store, big_data, start, end):
    store.put("videos", "ranged", PieceReader(big_data), filename="r.bin")
    chunks = list(store.open_range("videos", "ranged", start, end))
    assert b"".join(chunks) == big_data[start:end]
    assert all(len(c) <= 1 << 20 for c in chunks)  # streamed in pieces, not one buffer


def test_open_range_fails_before_iteration_and_rejects_bad_ranges(store):
    with pytest.raises(BlobNotFound):
        store.open_range("mp3s", "nope")  # eager: no next() needed
    put_bytes(store, "mp3s", "small", b"0123456789")
    with pytest.raises(ValueError):
        store.open_range("mp3s", "small", -1)
    with pytest.raises(ValueError):
        store.open_range("mp3s", "small", 5, 4)
    it = store.open_range("mp3s", "small", 2, 6)
    assert next(it) == b"2345"
    it.close()


def test_empty_blob(store):
    info = put_bytes(store, "mp3s", "empty", b"")
    assert info.size == 0 and info.sha256 == hashlib.sha256(b"").hexdigest()
    assert read_all(store, "mp3s", "empty") == b""
    assert has_blob(store, "mp3s", "empty")


def test_copy_to_file(store, tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    put_bytes(store, "videos", "v1", data, content_type="video/webm")
    out = tmp_path / "copy.webm"
    calls = []
    store.copy_to_file("videos", "v1", out, on_chunk=lambda: calls.append(1))
    assert out.read_bytes() == data
    assert len(calls) >= 3  # called after every chunk (at most 1 MiB each)
    with pytest.raises(BlobNotFound):
        store.copy_to_file("videos", "missing", tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_copy_to_file_stopped_by_its_callback_leaves_no_file(store, tmp_path):
    put_bytes(store, "videos", "v2", os.urandom(3 * 1024 * 1024))
    out = tmp_path / "stopped.bin"

    def stop():
        raise InterruptedError("lease lost")

    with pytest.raises(InterruptedError):
        store.copy_to_file("videos", "v2", out, on_chunk=stop)
    assert not out.exists()


def test_local_path_is_a_readable_file_or_none(store, backend):
    data = os.urandom(5000)
    put_bytes(store, "videos", "v3", data)
    path = store.local_path("videos", "v3")
    if backend == "gridfs":
        assert path is None
    else:
        assert path.read_bytes() == data
    with pytest.raises(BlobNotFound):
        store.local_path("videos", "missing")


def test_delete_is_safe_twice(store):
    put_bytes(store, "mp3s", "gone", b"abc")
    assert has_blob(store, "mp3s", "gone")
    assert store.delete("mp3s", "gone") is True
    assert store.delete("mp3s", "gone") is False
    assert not has_blob(store, "mp3s", "gone")
    with pytest.raises(BlobNotFound):
        store.info("mp3s", "gone")
    with pytest.raises(BlobNotFound):
        store.open_range("mp3s", "gone")
    put_bytes(store, "mp3s", "gone", b"new life")  # the id is free again
    assert read_all(store, "mp3s", "gone") == b"new life"


@pytest.mark.parametrize("fail_after", [0, 100_000, 5 * 1024 * 1024])
def test_failing_source_leaves_nothing(store, big_data, leftovers, fail_after):
    reader = PieceReader(big_data, fail_after=fail_after)
    with pytest.raises(OSError, match="client disconnected"):
        store.put("videos", "broken", reader, filename="b.mp4", chunk_size=64 * 1024)
    assert not has_blob(store, "videos", "broken")
    assert leftovers("videos") == []
    assert stored_ids(store, "videos") == []


def test_over_max_bytes_leaves_nothing(store, big_data, leftovers):
    limit = 3 * 1024 * 1024 + 5
    with pytest.raises(BlobTooLarge) as caught:
        store.put("videos", "huge", PieceReader(big_data), filename="h.mp4", max_bytes=limit)
    assert caught.value.limit == limit
    assert not has_blob(store, "videos", "huge")
    assert leftovers("videos") == []
    # exactly at the limit is fine
    info = put_bytes(store, "videos", "exact", b"y" * 1000, max_bytes=1000)
    assert info.size == 1000


def test_exists_and_replace(store, leftovers):
    put_bytes(store, "mp3s", "job_1", b"first", metadata={"v": 1})
    with pytest.raises(BlobExists):
        put_bytes(store, "mp3s", "job_1", b"second")
    assert read_all(store, "mp3s", "job_1") == b"first"

    second = b"second, longer" * 50_000
    info = put_bytes(store, "mp3s", "job_1", second, metadata={"v": 2}, replace=True)
    assert info.size == len(second)
    assert read_all(store, "mp3s", "job_1") == second
    stored = store.info("mp3s", "job_1")
    assert stored.sha256 == hashlib.sha256(second).hexdigest()
    assert stored.metadata == {"v": 2}
    assert stored_ids(store, "mp3s") == ["job_1"]

    # a failing source during a replace keeps the old blob intact
    with pytest.raises(OSError):
        store.put(
            "mp3s",
            "job_1",
            PieceReader(b"z" * 2_000_000, fail_after=600_000),
            filename="x",
            replace=True,
        )
    assert read_all(store, "mp3s", "job_1") == second

    # replace on a fresh id simply writes
    put_bytes(store, "mp3s", "job_2", b"only", replace=True)
    assert read_all(store, "mp3s", "job_2") == b"only"
    store.delete("mp3s", "job_1")
    store.delete("mp3s", "job_2")
    assert leftovers("mp3s") == []


BAD_IDS = [
    "",
    "../../etc/passwd",
    "a/b",
    "..",
    ".",
    "x" * 65,
    "id with space",
    "é",
    "a.json",
    "a\x00b",
    "~tmp",
    None,
    42,
]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_invalid_ids_are_not_found(store, bad):
    with pytest.raises(BlobNotFound):
        store.info("videos", bad)
    with pytest.raises(BlobNotFound):
        store.open_range("videos", bad)
    assert store.delete("videos", bad) is False
    with pytest.raises(ValueError):  # writing under a bad id is a programming error
        store.put("videos", bad, io.BytesIO(b"data"), filename="f")


def test_longest_valid_id(store):
    blob_id = "A-z_9" * 12 + "abcd"
    assert len(blob_id) == 64
    put_bytes(store, "videos", blob_id, b"ok")
    assert store.info("videos", blob_id).blob_id == blob_id


def test_buckets_are_separate(store):
    assert BUCKETS == ("videos", "mp3s")
    put_bytes(store, "videos", "same_id", b"the video")
    assert not has_blob(store, "mp3s", "same_id")
    put_bytes(store, "mp3s", "same_id", b"the mp3")
    assert read_all(store, "videos", "same_id") == b"the video"
    assert read_all(store, "mp3s", "same_id") == b"the mp3"
    store.delete("videos", "same_id")
    assert has_blob(store, "mp3s", "same_id")
    with pytest.raises(ValueError):
        store.info("music", "same_id")


def test_error_classes():
    assert issubclass(StorageError, BlobStoreError)
    assert not issubclass(BlobNotFound, StorageError)  # missing is permanent, never retried
    assert issubclass(BlobNotFound, LookupError)


def test_ping_passes_on_a_working_store_and_fails_on_a_broken_one(store, backend):
    assert store.ping() is None
    if backend == "gridfs":
        return  # a server that is down: test_unreachable_mongodb_is_a_storage_error
    # A bucket folder replaced by a file cannot take blobs, whoever runs the test (root too).
    (store.root / "mp3s").rmdir()
    (store.root / "mp3s").write_bytes(b"")
    with pytest.raises(StorageError):
        store.ping()


def test_unreachable_mongodb_is_a_storage_error():
    url = "mongodb://user:s3cret@127.0.0.1:1/vid2mp3?serverSelectionTimeoutMS=500"
    store = open_store(url)
    try:
        started = time.monotonic()
        with pytest.raises(StorageError) as caught:
            store.ping()
        assert time.monotonic() - started < 5
        assert "s3cret" not in str(caught.value)
        with pytest.raises(StorageError):
            store.info("videos", "abc")
        with pytest.raises(StorageError):
            put_bytes(store, "videos", "abc", b"data")
    finally:
        store.close()


def test_open_store_urls(tmp_path):
    with pytest.raises(ValueError):
        open_store("s3://bucket")
    with pytest.raises(ValueError):
        open_store("file://relative/path")
    with pytest.raises(ValueError) as caught:
        open_store("mongodb://user:s3cret@")
    assert "s3cret" not in str(caught.value)
    store = open_store((tmp_path / "with space").as_uri())
    put_bytes(store, "mp3s", "x", b"1")
    assert (tmp_path / "with space" / "mp3s" / "x.json").exists()


def test_database_name_comes_from_the_url(mongo_uri, with_database):
    from core.storage.gridfs import GridFSStore

    cases = [
        (mongo_uri, "vid2mp3"),
        (with_database(mongo_uri, "other"), "other"),
        (with_database(mongo_uri + "/?appname=x", "q"), "q"),
    ]
    for url, name in cases:
        with GridFSStore(url) as store:
            assert store.database_name == name


def test_racing_writers_of_one_id(store, leftovers, backend):
    """Two writers pass the existence check together: one wins, the other gets BlobExists."""
    barrier = threading.Barrier(2, timeout=10)

    class SyncedReader(PieceReader):
        def read(self, n):
            if self.handed_out == 0:
                barrier.wait()  # both writers are past the existence check
            return super().read(n)

    payloads = {"a": b"A" * 700_000, "b": b"B" * 300_000}
    results: dict[str, object] = {}

    def write(name):
        try:
            results[name] = store.put(
                "mp3s", "race", SyncedReader(payloads[name], piece=65_536), filename=name
            )
        except BlobExists as exc:
            results[name] = exc

    threads = [threading.Thread(target=write, args=(name,)) for name in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    winners = [n for n, r in results.items() if not isinstance(r, Exception)]
    assert len(winners) == 1, results
    (loser,) = set(payloads) - set(winners)
    assert isinstance(results[loser], BlobExists)
    assert read_all(store, "mp3s", "race") == payloads[winners[0]]
    left = leftovers("mp3s")
    if backend == "gridfs":
        chunks = -(-len(payloads[winners[0]]) // (255 * 1024))
        assert sorted(left, key=str) == sorted(
            ["race", *(("race", n) for n in range(chunks))], key=str
        )
    else:
        assert len(left) == 2 and "race.json" in left  # the sidecar and the winner's data


def test_metadata_the_backend_cannot_store_is_a_value_error(store, leftovers):
    with pytest.raises(ValueError):
        put_bytes(store, "videos", "meta", b"x", metadata={"when": object()})
    assert leftovers("videos") == []


# -- resumable writing: append, finish_append, discard_append -----------------------------------


def test_appended_pieces_become_the_blob(store, big_data, leftovers):
    data = big_data[: 3 * 1024 * 1024 + 12_345]
    # Piece boundaries that fall inside GridFS chunks and inside our read size.
    cuts = [0, 1, 100_000, 261_120, 261_121, 2_000_003, len(data)]
    end = 0
    for start, stop in itertools.pairwise(cuts):
        assert start == end
        end = store.append("videos", "resumed", start, PieceReader(data[start:stop], 70_000))
        assert end == stop
    with pytest.raises(BlobNotFound):
        store.info("videos", "resumed")  # not a blob until it is finished
    info = store.finish_append(
        "videos", "resumed", len(data), filename="a.mp4", metadata={"owner": 7}
    )
    assert (info.size, info.filename, info.metadata) == (len(data), "a.mp4", {"owner": 7})
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert read_all(store, "videos", "resumed") == data
    assert read_all(store, "videos", "resumed", 261_000, 262_000) == data[261_000:262_000]
    assert store.info("videos", "resumed").sha256 == info.sha256


def test_bytes_past_the_recorded_offset_are_overwritten_and_cut_off(store, leftovers):
    data = os.urandom(600_000)
    store.append("videos", "redo", 0, io.BytesIO(data[:400_000]))
    # A refused piece wrote garbage past 300_000; the caller recorded 300_000 and goes on there.
    store.append("videos", "redo", 300_000, io.BytesIO(os.urandom(250_000)))
    store.append("videos", "redo", 300_000, io.BytesIO(data[300_000:500_000]))
    store.append("videos", "redo", 500_000, io.BytesIO(b"x" * 90_000))  # refused again
    info = store.finish_append("videos", "redo", 500_000, filename="r.bin")
    assert read_all(store, "videos", "redo") == data[:500_000]
    assert info.sha256 == hashlib.sha256(data[:500_000]).hexdigest()
    store.delete("videos", "redo")
    assert leftovers("videos") == []


def test_an_interrupted_piece_keeps_what_arrived(store):
    data = os.urandom(700_000)
    with pytest.raises(OSError):
        store.append("videos", "cut", 0, PieceReader(data, 100_000, fail_after=300_000))
    store.append("videos", "cut", 300_000, io.BytesIO(data[300_000:]))
    store.finish_append("videos", "cut", len(data), filename="c.bin")
    assert read_all(store, "videos", "cut") == data


def test_append_and_finish_refuse_gaps(store):
    with pytest.raises(StorageError):
        store.append("videos", "gap", 10, io.BytesIO(b"late"))
    store.append("videos", "gap", 0, io.BytesIO(b"12345"))
    with pytest.raises(StorageError):
        store.finish_append("videos", "gap", 6, filename="g.bin")
    with pytest.raises(StorageError):
        store.finish_append("videos", "never-written", 5, filename="n.bin")


def test_append_on_a_finished_blob_is_refused(store):
    put_bytes(store, "videos", "taken", b"old")
    with pytest.raises(BlobExists):
        store.append("videos", "taken", 0, io.BytesIO(b"new"))
    assert read_all(store, "videos", "taken") == b"old"


def test_discard_append_drops_only_unfinished_bytes(store, leftovers):
    store.append("videos", "gone", 0, io.BytesIO(os.urandom(300_000)))
    store.discard_append("videos", "gone")
    assert leftovers("videos") == []
    with pytest.raises(StorageError):
        store.finish_append("videos", "gone", 300_000, filename="g.bin")
    store.append("videos", "kept", 0, io.BytesIO(b"abc"))
    store.finish_append("videos", "kept", 3, filename="k.bin")
    store.discard_append("videos", "kept")
    store.discard_append("videos", "../bad id")
    assert read_all(store, "videos", "kept") == b"abc"
