"""Summarise a conversion's audio as waveform peaks for a player: min/max pairs, bounded memory.

The audio is not decoded a second time: the conversion's own ffmpeg run writes a second output
from the same decode (:func:`pcm_output_args`: mono, :data:`SAMPLE_RATE` Hz, 16-bit raw PCM,
8 kB per second of audio) and :func:`peaks` folds that file into min/max pairs, chunk by chunk,
so a four-hour file never sits in memory whole. The result uses the JSON layout of BBC's
audiowaveform (``version``, ``channels``, ``sample_rate``, ``samples_per_pixel``, ``bits``,
``length``, ``data`` as min, max, min, max, ...), which peaks.js and wavesurfer read directly;
values are 8-bit (-128..127), so 1,000 points take about 8 kB of JSON.

Not imported by the package's ``__init__``: numpy stays out of processes (the web app) that
only need the options.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from .ffmpeg import output_arg

DEFAULT_POINTS = 1000
# 4 kHz keeps the shape a player draws (everything under 2 kHz, where a voice's or a band's
# energy is) and makes ffmpeg's extra resampling a small fraction of the conversion.
SAMPLE_RATE = 4000
# One resampler pass downmixes and resamples, with a short filter (peaks need no studio-grade
# anti-aliasing), and one-second frames (not padded at the end) keep the hand-overs between
# ffmpeg's threads few: on a 60 s clip this output costs ~40 ms of CPU instead of ~95.
PCM_FILTER = f"aresample={SAMPLE_RATE}:ochl=mono:filter_size=4,asetnsamples=n={SAMPLE_RATE}:p=0"
# Frames per chunk handed to Python: 25 s at 4 kHz, 800 kB as float64.
CHUNK_FRAMES = 100_000
_SAMPLE = np.dtype("<i2")


def pcm_output_args(path: str | os.PathLike[str]) -> list[str]:
    """Return the output options that write the mapped audio to ``path`` for :func:`peaks`."""
    return ["-vn", "-sn", "-dn", "-af", PCM_FILTER] + [
        "-c:a", "pcm_s16le", "-f", "s16le", output_arg(path),
    ]  # fmt: skip


def peaks(pcm: str | os.PathLike[str], points: int = DEFAULT_POINTS) -> dict[str, Any]:
    """Return about ``points`` (min, max) pairs over the raw PCM file ``pcm``, JSON-serialisable."""
    if points < 1:
        raise ValueError("points must be at least 1")
    total = os.stat(pcm).st_size // _SAMPLE.itemsize
    points = max(1, min(points, total))
    lows = np.zeros(points)
    highs = np.zeros(points)
    if total:
        lows[:] = np.inf
        highs[:] = -np.inf
        with open(pcm, "rb") as f:
            for start in range(0, total, CHUNK_FRAMES):
                count = min(CHUNK_FRAMES, total - start)
                chunk = np.fromfile(f, dtype=_SAMPLE, count=count) / 32768.0
                _fold(chunk, start, total, lows, highs)
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
    """Merge one chunk of samples into the per-point minima and maxima.

    Point ``p`` covers samples ``ceil(p * total / points)`` up to the next point's first sample;
    only the point boundaries inside the chunk are computed, not a point per sample.
    """
    points = len(lows)
    first = start * points // total
    last = (start + len(chunk) - 1) * points // total
    which = np.arange(first, last + 1)
    offsets = np.maximum(-(-which * total // points) - start, 0)
    np.minimum.at(lows, which, np.minimum.reduceat(chunk, offsets))
    np.maximum.at(highs, which, np.maximum.reduceat(chunk, offsets))
