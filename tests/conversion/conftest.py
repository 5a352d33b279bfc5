"""Fixtures for the media engine tests: a media corpus generated on demand with ffmpeg's lavfi.

Nothing binary is committed. Each pytest(-xdist) worker builds the files it asks for, once, in
its own session temp dir.
"""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from conversion.ffmpeg import ffmpeg_exe

DURATION = 3  # seconds of every ordinary clip
VIDEO = f"testsrc=size=160x120:rate=25:duration={DURATION}"


def sine(freq: int = 440, rate: int = 44100, duration: float = DURATION) -> list[str]:
    """Return lavfi input args for a sine tone."""
    return ["-f", "lavfi", "-i", f"sine=frequency={freq}:sample_rate={rate}:duration={duration}"]


VIDEO_IN = ["-f", "lavfi", "-i", VIDEO]
H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
VPX = ["-deadline", "realtime", "-cpu-used", "8", "-b:v", "100k"]
TAGS = ["-metadata", "title=Clip: One", "-metadata", "artist=Corpus Band"]

# name -> (file name, ffmpeg arguments between the binary and the output file)
RECIPES: dict[str, tuple[str, list[str]]] = {
    "mp4": ("clip.mp4", [*VIDEO_IN, *sine(), *H264, "-c:a", "aac", "-ac", "2", *TAGS]),
    "mkv_vp9_opus": (
        "clip.mkv",
        [*VIDEO_IN, *sine(rate=48000), "-c:v", "libvpx-vp9", *VPX, "-c:a", "libopus"],
    ),
    "webm_vp8_vorbis": (
        "clip.webm",
        [*VIDEO_IN, *sine(), "-c:v", "libvpx", *VPX, "-c:a", "libvorbis"],
    ),
    "webm_vp9_opus": (
        "clip9.webm",
        [*VIDEO_IN, *sine(rate=48000), "-c:v", "libvpx-vp9", *VPX, "-c:a", "libopus"],
    ),
    "mov": ("clip.mov", [*VIDEO_IN, *sine(), *H264, "-c:a", "pcm_s16le"]),
    "avi_mp3": ("clip.avi", [*VIDEO_IN, *sine(), "-c:v", "mpeg4", "-c:a", "libmp3lame"]),
    "mono": ("mono.mp4", [*VIDEO_IN, *sine(), *H264, "-c:a", "aac", "-ac", "1"]),
    "surround": ("surround.mp4", [*VIDEO_IN, *sine(), *H264, "-c:a", "aac", "-ac", "6"]),
    "rate8k": ("rate8k.wav", [*sine(rate=8000)]),
    "rate96k": ("rate96k.flac", [*sine(rate=96000), "-ac", "2"]),
    "multitrack": (
        "multi.mkv",
        [
            *VIDEO_IN,
            *sine(440, 44100),
            *sine(880, 22050),
            *sine(1320, 32000),
            "-map",
            "0",
            "-map",
            "1",
            "-map",
            "2",
            "-map",
            "3",
            *H264,
            "-c:a",
            "aac",
            "-ac:a:1",
            "2",
            "-metadata:s:a:0",
            "language=eng",
            "-metadata:s:a:1",
            "language=fra",
            "-metadata:s:a:2",
            "language=deu",
            "-disposition:a:0",
            "0",
            "-disposition:a:1",
            "default",
            "-disposition:a:2",
            "0",
        ],
    ),
    "vfr": (
        "vfr.mp4",
        [
            *VIDEO_IN,
            *sine(),
            "-vf",
            "select='not(mod(n,3))+eq(mod(n,7),1)'",
            "-fps_mode",
            "vfr",
            *H264,
            "-c:a",
            "aac",
        ],
    ),
    "ogg": ("audio.ogg", [*sine(), "-c:a", "libvorbis", *TAGS]),
    "m4a": ("audio.m4a", [*sine(), "-c:a", "aac", *TAGS]),
    "wav": ("audio.wav", [*sine()]),
    "flac": ("audio.flac", [*sine(), *TAGS]),
    "mp3": ("audio.mp3", [*sine(), "-c:a", "libmp3lame", "-b:a", "128k", *TAGS]),
    "noaudio": ("noaudio.mp4", [*VIDEO_IN, *H264]),
    # Long and cheap to write, slow to normalise (loudnorm works at 192 kHz): a conversion that
    # is reliably still running when a test cancels it.
    "long": ("long.flac", [*sine(rate=8000, duration=1200)]),
}


def make_media(path: Path, args: list[str]) -> Path:
    """Run ffmpeg to create ``path`` from lavfi ``args``."""
    subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *args, str(path)],
        check=True,
        timeout=120,
    )
    return path


class Corpus:
    """Build corpus files lazily, once per session (and per xdist worker)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._built: dict[str, Path] = {}

    def __getitem__(self, name: str) -> Path:
        if name not in self._built:
            self._built[name] = self._build(name)
        return self._built[name]

    def _build(self, name: str) -> Path:
        if name in RECIPES:
            filename, args = RECIPES[name]
            return make_media(self.root / filename, args)
        path = self.root / name
        if name == "empty.mp4":
            path.write_bytes(b"")
        elif name == "random.bin":
            path.write_bytes(random.Random(1234).randbytes(200_000))
        elif name == "truncated.mp4":
            # The MP4 muxer writes the moov index last, so cutting the tail leaves a file with
            # media data but no index, the usual state of an interrupted upload.
            data = self["mp4"].read_bytes()
            path.write_bytes(data[: len(data) // 2])
        elif name == "playlist.m3u8":
            # An HLS playlist that would make a naive ffmpeg read another local file.
            path.write_text(f"#EXTM3U\n#EXTINF:3,\nfile://{self['wav']}\n#EXT-X-ENDLIST\n")
        elif name == "text.txt":
            path.write_text("just some words, not a video\n" * 100)
        else:
            raise KeyError(name)
        return path


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path


def ffmpeg_children() -> list[tuple[int, str]]:
    """Return (pid, state) of every ffmpeg process whose parent is this process, zombies too."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # the process exited while we looked
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if int(ppid) == os.getpid() and "ffmpeg" in comm:
            found.append((int(entry.name), state))
    return found


@pytest.fixture
def no_leftovers(out_dir: Path) -> Callable[[], None]:
    """Return a check that no ffmpeg child and no temp file of ours remains."""

    def check() -> None:
        assert ffmpeg_children() == []
        assert sorted(p.name for p in out_dir.iterdir() if p.name.endswith(".part")) == []

    return check
