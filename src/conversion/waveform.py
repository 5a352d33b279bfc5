"""Summarise an MP3 as waveform peaks for a player: min/max pairs in bounded memory.

:func:`peaks` decodes the audio with moviepy's audio reader (ffmpeg resampling to a low rate)
and reads it chunk by chunk, in order, so a four-hour MP3 never sits in memory whole: memory
depends on :data:`CHUNK_FRAMES`, not on the duration. (``AudioFileClip.iter_chunks`` would do
the same through per-frame time arrays, at five times the Python cost.) The result uses the JSON
layout of BBC's audiowaveform (``version``, ``channels``, ``sample_rate``, ``samples_per_pixel``,
``bits``, ``length``, ``data`` as min, max, min, max, ...), which peaks.js and wavesurfer read
directly; values are 8-bit (-128..127), so 1,000 points take about 8 kB of JSON.

Not imported by the package's ``__init__``: moviepy and numpy stay out of processes (the web app)
that only need the options.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
from moviepy.audio.io.readers import FFMPEG_AudioReader

DEFAULT_POINTS = 1000
# Decoding at 8 kHz keeps the shape a player draws and costs far less than 44.1 kHz.
SAMPLE_RATE = 8000
# Frames per chunk handed to Python: 10 s at 8 kHz, 1.3 MB as float64 stereo. (Stereo, not an
# ffmpeg downmix, which would draw a stereo recording 3 dB quieter than it peaks.)
CHUNK_FRAMES = 80_000


def peaks(path: str | os.PathLike[str], points: int = DEFAULT_POINTS) -> dict[str, Any]:
    """Return about ``points`` (min, max) pairs over the whole of ``path``, JSON-serialisable."""
    if points < 1:
        raise ValueError("points must be at least 1")
    reader = FFMPEG_AudioReader(
        os.path.abspath(path), CHUNK_FRAMES, fps=SAMPLE_RATE, nbytes=2, nchannels=2
    )
    try:
        total = int(SAMPLE_RATE * (reader.duration or 0.0))
        points = max(1, min(points, total))
        lows = np.full(points, np.inf)
        highs = np.full(points, -np.inf)
        # The reader pre-reads a buffer on opening; start again from the top to read in order.
        reader.initialize()
        for start in range(0, total, CHUNK_FRAMES):
            chunk = reader.read_chunk(min(CHUNK_FRAMES, total - start))
            _fold(chunk, start, total, lows, highs)
    finally:
        reader.close()
    # A point no frame reached (only when the file is shorter than it claims) draws as silence.
    lows[np.isinf(lows)] = 0.0
    highs[np.isinf(highs)] = 0.0
    data = np.empty(2 * points, dtype=np.int64)
    data[0::2] = np.clip(np.round(lows * 128), -128, 127)
    data[1::2] = np.clip(np.round(highs * 128), -128, 127)
    return {
        "version": 2,
        "channels": 1,
        "sample_rate": SAMPLE_RATE,
        "samples_per_pixel": math.ceil(total / points) if total else 0,
        "bits": 8,
        "length": points,
        "data": data.tolist(),
    }


def _fold(chunk, start: int, total: int, lows, highs) -> None:
    """Merge one chunk of frames (rows of channels) into the per-point minima and maxima.

    Point ``p`` covers frames ``ceil(p * total / points)`` up to the next point's first frame;
    only the point boundaries inside the chunk are computed, not a point per frame.
    """
    points = len(lows)
    first = start * points // total
    last = (start + len(chunk) - 1) * points // total
    which = np.arange(first, last + 1)
    offsets = np.maximum(-(-which * total // points) - start, 0)
    np.minimum.at(lows, which, np.minimum.reduceat(chunk, offsets, axis=0).min(axis=1))
    np.maximum.at(highs, which, np.maximum.reduceat(chunk, offsets, axis=0).max(axis=1))
