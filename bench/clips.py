"""Make the benchmarks' test clips with ffmpeg's lavfi sources: H.264 video with AAC sound."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def make_clip(path: Path, seconds: int, *, size: str, fps: int, video_bitrate: str) -> Path:
    """Write testsrc2 at `size` and `fps` (libx264 ultrafast) with a sine tone as AAC 128k."""
    subprocess.run(
        [FFMPEG, "-nostdin", "-loglevel", "error", "-y"]
        + ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}"]
        + ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
        + ["-c:v", "libx264", "-preset", "ultrafast", "-b:v", video_bitrate, "-pix_fmt", "yuv420p"]
        + ["-c:a", "aac", "-b:a", "128k", "-shortest", str(path)],
        check=True,
    )
    return path
