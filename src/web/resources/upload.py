"""Accept a video upload: stream it into the blob store, create its job, then enqueue it.

The upload's SHA-256 is computed while it streams in; when the same user already has a done job
with this content and these options, the new job is done at once and shares that job's MP3
(an instant repeat, see core.repeats) and nothing is enqueued.

An optional file part `cover` (JPEG, PNG, GIF or WebP) is kept next to the video as blob
`videos/<job id>-cover` and sets the option cover=image: the convert step fetches it and the
MP3 carries it as its picture.
"""

from __future__ import annotations

import falcon

from core.job_blobs import cover_blob_id
from core.models import new_job_id
from core.settings import Settings
from core.storage import BlobStore, BlobTooLarge
from web.errors import Problem
from web.links import link
from web.resources.jobs import job_json
from web.sniff import SNIFF_BYTES, sniff_container
from web.upload_jobs import UploadJobs, display_name, over_quota, too_large

_MAX_FIELD_BYTES = 4096
# Multipart framing around the file: boundaries, part headers and small option fields.
_FORM_OVERHEAD = 256 * 1024
MAX_COVER_BYTES = 10 * 1024 * 1024
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")


class UploadResource:
    """`POST /upload`: multipart field `file` plus optional conversion options → 202, the job."""

    def __init__(self, settings: Settings, store: BlobStore, jobs: UploadJobs) -> None:
        self._settings = settings
        self._store = store
        self._jobs = jobs

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        principal = req.context.principal
        if not (req.content_type or "").lower().startswith("multipart/form-data"):
            raise Problem(
                falcon.HTTP_415, "send the video as multipart/form-data with a field named file"
            )
        limit = self._settings.max_upload_bytes
        if req.content_length and req.content_length > limit + _FORM_OVERHEAD:
            raise too_large(limit)
        remaining_quota = self._jobs.remaining_quota(principal.id)
        if remaining_quota <= 0:
            raise over_quota()

        job_id = new_job_id()
        fields: dict[str, str] = {}
        stored = None
        cover_image = False
        try:
            for part in req.get_media():
                if part.name == "file":
                    if stored is not None:
                        raise Problem(falcon.HTTP_400, "send exactly one field named file")
                    stored = self._store_video(
                        part, job_id, principal.id, min(limit, remaining_quota)
                    )
                elif part.name == "cover" and part.filename is not None:
                    if cover_image:
                        raise Problem(falcon.HTTP_400, "send at most one cover image")
                    self._store_cover(part, job_id, principal.id)
                    cover_image = True
                elif part.name:
                    fields[part.name] = _field_text(part)
            if stored is None:
                raise Problem(falcon.HTTP_400, "the form has no field named file")
            request = self._jobs.parse(fields, cover_image)
        except BlobTooLarge:
            self._jobs.discard(job_id)
            if limit <= remaining_quota:
                raise too_large(limit) from None
            raise over_quota() from None
        except BaseException:
            # Nothing half-done survives a refused or broken upload.
            self._jobs.discard(job_id)
            raise
        job = self._jobs.create_job_from_blob(job_id, principal.id, stored, request)
        resp.status = falcon.HTTP_202
        resp.location = link(req, f"/jobs/{job_id}")
        resp.media = job_json(job, req.root_path)

    def _store_video(self, part, job_id: str, owner: int, max_bytes: int):
        head = _read_head(part.stream)
        if not head:
            raise Problem(falcon.HTTP_400, "the uploaded file is empty")
        container = sniff_container(head)
        if container is None:
            raise Problem(
                falcon.HTTP_415, "the file is not a video or audio file this service can read"
            )
        return self._store.put(
            "videos",
            job_id,
            _Prefixed(head, part.stream),
            filename=display_name(part.filename),
            content_type=part.content_type,
            metadata={"owner": owner, "job_id": job_id, "container": container},
            max_bytes=max_bytes,
        )

    def _store_cover(self, part, job_id: str, owner: int) -> None:
        head = _read_head(part.stream)
        if not head.startswith(_IMAGE_MAGIC) and not (
            head[:4] == b"RIFF" and head[8:12] == b"WEBP"
        ):
            raise Problem(
                falcon.HTTP_422,
                "invalid option cover: upload a JPEG, PNG, GIF or WebP image",
                field="cover",
            )
        try:
            self._store.put(
                "videos",
                cover_blob_id(job_id),
                _Prefixed(head, part.stream),
                filename=display_name(part.filename),
                content_type=part.content_type,
                metadata={"owner": owner, "job_id": job_id, "kind": "cover"},
                max_bytes=MAX_COVER_BYTES,
            )
        except BlobTooLarge:
            raise Problem(
                falcon.HTTP_413,
                f"the cover image is larger than the limit of {MAX_COVER_BYTES} bytes",
                limit=MAX_COVER_BYTES,
            ) from None


class _Prefixed:
    """A reader that yields already-read `head` bytes before the rest of `stream`."""

    def __init__(self, head: bytes, stream) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0 or size >= len(self._head):
                chunk, self._head = self._head, b""
                return chunk
            chunk, self._head = self._head[:size], self._head[size:]
            return chunk
        return self._stream.read(size)


def _read_head(stream) -> bytes:
    head = b""
    while len(head) < SNIFF_BYTES:
        chunk = stream.read(SNIFF_BYTES - len(head))
        if not chunk:
            break
        head += chunk
    return head


def _field_text(part) -> str:
    data = part.stream.read(_MAX_FIELD_BYTES + 1)
    if len(data) > _MAX_FIELD_BYTES:
        raise Problem(falcon.HTTP_422, f"form field {part.name} is too long", field=part.name)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise Problem(
            falcon.HTTP_422, f"form field {part.name} is not UTF-8 text", field=part.name
        ) from None
