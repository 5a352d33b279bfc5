"""Keep a job's waveform peaks next to its MP3: blob `mp3s/<job id>-waveform`, JSON.

The convert step calls :func:`store_waveform` with the PCM its ffmpeg run wrote next to the MP3
(see :mod:`conversion.waveform`); `GET /jobs/{id}/waveform` serves the blob.
"""

from __future__ import annotations

import io
import json
import os

from core.job_blobs import waveform_blob_id
from core.storage import BlobInfo, BlobStore

BUCKET = "mp3s"


def store_waveform(store: BlobStore, job_id: str, pcm: str | os.PathLike[str]) -> BlobInfo:
    """Fold a job's waveform PCM into peaks and store them; safe to run twice (replaces)."""
    # Imported here: the web app reads waveforms through this module and must not load numpy.
    from conversion.waveform import peaks

    body = json.dumps(peaks(pcm), separators=(",", ":")).encode()
    return store.put(
        BUCKET,
        waveform_blob_id(job_id),
        io.BytesIO(body),
        filename="waveform.json",
        content_type="application/json",
        metadata={"job_id": job_id, "kind": "waveform"},
        replace=True,
    )
