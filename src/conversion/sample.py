"""Write a short sample video from ffmpeg's test sources, for trying vid2mp3 with no video at hand.

The picture is ffmpeg's `testsrc2` pattern; the sound is a plucked four-note arpeggio, so the
MP3 that comes out is pleasant to hear and easy to recognise. Nothing is downloaded.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .ffmpeg import ffmpeg_exe, output_arg

SAMPLE_SECONDS = 10.0
# Four notes a major third apart, two a second, each fading like a plucked string.
_ARPEGGIO = "0.3*(1-mod(2*t,1))*sin(2*PI*t*440*pow(2,floor(mod(2*t,4))/3))"


def write_sample(path: str | os.PathLike[str], seconds: float = SAMPLE_SECONDS) -> Path:
    """Write an H.264/AAC MP4 of `seconds` to `path` and return the path."""
    if not 0 < seconds <= 3600:
        raise ValueError("a sample lasts between 0 and 3600 seconds")
    target = Path(path)
    args = [
        ffmpeg_exe(),
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size=640x360:rate=25:duration={seconds}",
        "-f",
        "lavfi",
        "-i",
        f"aevalsrc='{_ARPEGGIO}':sample_rate=44100:channel_layout=stereo:duration={seconds}",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "30",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-movflags",
        "+faststart",
        "-shortest",
        output_arg(target),
    ]
    subprocess.run(args, check=True, capture_output=True)
    return target
