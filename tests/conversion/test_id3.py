"""A cover added to a finished MP3's ID3v2.3 tag: tags and audio kept, the picture read back."""

from __future__ import annotations

import subprocess

from PIL import Image

from conversion import ConversionOptions, probe, to_mp3
from conversion.ffmpeg import ffmpeg_exe
from conversion.id3 import add_cover


def picture_of(mp3, tmp_path) -> Image.Image:
    out = tmp_path / "apic.jpg"
    subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-i", str(mp3), "-an"]
        + ["-c:v", "copy", "-f", "image2", str(out)],
        check=True,
    )
    picture = Image.open(out)
    picture.load()
    return picture


def decode_errors(mp3) -> str:
    done = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(mp3), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stderr


def test_cover_joins_the_tags_ffmpeg_wrote(corpus, tmp_path):
    mp3 = tmp_path / "out.mp3"
    to_mp3(corpus["wav"], mp3, ConversionOptions(cover="none", title="Night train", bitrate=128))
    before = probe(mp3)
    jpeg = tmp_path / "cover.jpg"
    Image.new("RGB", (64, 48), (10, 200, 10)).save(jpeg)
    audio = mp3.read_bytes()[10 + _tag_size(mp3.read_bytes()) :]

    add_cover(mp3, jpeg)

    after = probe(mp3)
    assert after.cover_art and not before.has_video
    assert after.tags["title"] == "Night train"
    assert abs(after.duration - before.duration) < 0.01
    assert mp3.read_bytes().endswith(audio)  # the audio frames, Xing header first, untouched
    assert decode_errors(mp3) == ""
    picture = picture_of(mp3, tmp_path)
    assert picture.format == "JPEG" and picture.size == (64, 48)
    assert list(tmp_path.glob("*.cover")) == []


def test_a_file_without_a_tag_gets_one(corpus, tmp_path):
    raw = tmp_path / "raw.mp3"
    subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(corpus["wav"])]
        + ["-c:a", "libmp3lame", "-id3v2_version", "0", str(raw)],
        check=True,
    )
    assert not raw.read_bytes().startswith(b"ID3")
    jpeg = tmp_path / "cover.jpg"
    Image.new("RGB", (32, 32), (200, 10, 10)).save(jpeg)
    add_cover(raw, jpeg)
    assert probe(raw).cover_art
    assert picture_of(raw, tmp_path).size == (32, 32)


def _tag_size(data: bytes) -> int:
    assert data[:4] == b"ID3\x03"
    return (data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]
