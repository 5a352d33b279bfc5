"""`GET /jobs/{id}/waveform`: the job's waveform peaks as JSON, 404 until they are stored."""

from __future__ import annotations

import uuid

import falcon

from core.db import session_scope
from core.job_blobs import waveform_blob_id
from core.storage import BlobNotFound, BlobStore
from core.waveforms import BUCKET
from web.errors import Problem
from web.resources.jobs import visible_job


class JobWaveformResource:
    """Serve the peaks JSON (audiowaveform layout) the converter stored with the job's MP3."""

    def __init__(self, sessions, store: BlobStore) -> None:
        self._sessions, self._store = sessions, store

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID) -> None:
        with session_scope(self._sessions) as session:
            job = visible_job(session, req.context.principal, job_id)
            blob_id = waveform_blob_id(job.mp3_blob_id or job.id)
        try:
            resp.stream = self._store.open_range(BUCKET, blob_id)
        except BlobNotFound:
            raise Problem(falcon.HTTP_404, "this job has no waveform (yet)") from None
        resp.content_type = falcon.MEDIA_JSON
        resp.cache_control = ["private", "max-age=3600"]
