"""Waveform peaks of a conversion's PCM: where the sound is, how loud, in bounded memory."""

from __future__ import annotations

import json
import subprocess
import tracemalloc

import pytest

from conversion.ffmpeg import ffmpeg_exe
from conversion.waveform import SAMPLE_RATE, pcm_output_args, peaks


def pcm(path, source: str):
    """Write lavfi ``source`` as the PCM a conversion writes for its waveform."""
    subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source]
        + pcm_output_args(path),
        check=True,
    )
    return path


@pytest.fixture(scope="module")
def silence_then_tone(tmp_path_factory):
    """2 s of silence, then 2 s of a 440 Hz tone at half of full scale."""
    path = tmp_path_factory.mktemp("waveform") / "silence-then-tone.pcm"
    # The volume filter belongs to the source: the PCM output has a filter of its own.
    return pcm(
        path, "sine=frequency=440:sample_rate=44100:duration=4,volume=4*gte(t\\,2):eval=frame"
    )


def test_peaks_show_where_and_how_loud(silence_then_tone):
    result = peaks(silence_then_tone, points=100)
    assert json.loads(json.dumps(result)) == result
    assert (result["version"], result["channels"], result["bits"]) == (2, 1, 8)
    assert result["length"] == 100 and len(result["data"]) == 200
    assert result["samples_per_pixel"] == 4 * SAMPLE_RATE // 100
    lows, highs = result["data"][0::2], result["data"][1::2]
    # The silent half stays near zero, the tone (lavfi's 1/8 scale, x4 = 0.5) swings about +-64.
    assert max(highs[2:45]) <= 2 and min(lows[2:45]) >= -2
    assert all(55 <= high <= 70 for high in highs[55:98])
    assert all(-70 <= low <= -55 for low in lows[55:98])


def test_more_points_than_samples_gives_one_per_sample(tmp_path):
    short = pcm(tmp_path / "short.pcm", "sine=sample_rate=8000:duration=0.05")
    result = peaks(short, points=100_000)
    assert result["length"] == SAMPLE_RATE // 20
    assert len(result["data"]) == 2 * result["length"]


def test_no_audio_gives_one_silent_point(tmp_path):
    empty = tmp_path / "empty.pcm"
    empty.write_bytes(b"")
    assert peaks(empty)["data"] == [0, 0]


def test_points_must_be_positive(silence_then_tone):
    with pytest.raises(ValueError, match="at least 1"):
        peaks(silence_then_tone, points=0)


def test_memory_does_not_grow_with_duration(tmp_path):
    # 20 minutes read whole at 4 kHz would be 38 MB of float64; chunks keep it to a few MB.
    long = pcm(tmp_path / "long.pcm", "sine=sample_rate=8000:duration=1200")
    tracemalloc.start()
    try:
        result = peaks(long)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result["length"] == 1000
    assert peak < 8 * 1024 * 1024, f"peak traced memory {peak / 1e6:.1f} MB"
