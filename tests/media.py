"""Make small test media with the ffmpeg that ships in imageio-ffmpeg (no binaries committed)."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import imageio_ffmpeg

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def make_clip(path: Path, seconds: float = 2.0, *, audio: bool = True, video: bool = True) -> Path:
    """Write an H.264/AAC MP4 (or other container by suffix) of `seconds` from lavfi sources."""
    args = [FFMPEG, "-nostdin", "-loglevel", "error", "-y"]
    if video:
        args += ["-f", "lavfi", "-i", f"testsrc=size=160x120:rate=15:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}"]
    if video:
        args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio and path.suffix in (".mp4", ".m4a", ".mov"):
        args += ["-c:a", "aac", "-b:a", "64k"]
    args += ["-shortest", str(path)]
    subprocess.run(args, check=True)
    return path


def decoded_md5(path: Path) -> str:
    """Return the MD5 of the first audio track decoded to PCM, as ffmpeg's md5 muxer prints it."""
    result = subprocess.run(
        [FFMPEG, "-nostdin", "-loglevel", "error", "-i", str(path), "-map", "0:a:0", "-f", "md5"]
        + ["-"],
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


def claim_duration(mkv: Path, seconds: float) -> Path:
    """Make a Matroska file state `seconds` as its duration, whatever it holds; return it.

    ffmpeg writes the segment's Duration element (ID 0x4489) as an 8-byte float in milliseconds
    (the default TimecodeScale); this overwrites it in place, as a broken or hostile muxer would.
    """
    data = bytearray(mkv.read_bytes())
    at = data.find(b"\x44\x89\x88")
    assert at > 0, "no 8-byte Duration element"
    struct.pack_into(">d", data, at + 3, seconds * 1000.0)
    mkv.write_bytes(bytes(data))
    return mkv
