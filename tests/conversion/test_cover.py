"""Cover pictures: a still of the video (blank frames skipped), the source's own, or an image."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from conversion import ConversionOptions, InvalidOptionsError, keyframes, probe, to_mp3
from conversion import convert as convert_module
from conversion.cover import COVER_WIDTH, is_blank, video_still
from conversion.ffmpeg import ffmpeg_exe
from conversion.keyframes import SHORT_MEDIA_SECONDS


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def lavfi(source: str) -> list[str]:
    return ["-f", "lavfi", "-i", source]


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cover-media")


@pytest.fixture(scope="module")
def late_start(media_dir) -> Path:
    """A 1280x720 clip: 1 s black, 0.8 s flat grey, then 2.2 s of test pattern; and a tone."""
    path = media_dir / "late-start.mp4"
    size = "size=1280x720:rate=25"
    ffmpeg(
        *lavfi(f"color=c=black:{size}:duration=1"),
        *lavfi(f"color=c=0x808080:{size}:duration=0.8"),
        *lavfi(f"testsrc2={size}:duration=2.2"),
        *lavfi("sine=frequency=440:duration=4"),
        "-filter_complex",
        "[0:v][1:v][2:v]concat=n=3:v=1:a=0[v]",
        *("-map", "[v]", "-map", "3:a", "-c:v", "libx264", "-preset", "ultrafast"),
        *("-pix_fmt", "yuv420p", "-c:a", "aac", str(path)),
    )
    return path


@pytest.fixture(scope="module")
def all_black(media_dir) -> Path:
    path = media_dir / "black.mp4"
    ffmpeg(
        *lavfi("color=c=black:size=320x240:rate=25:duration=3"),
        *lavfi("sine=duration=3"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-shortest"),
        str(path),
    )
    return path


@pytest.fixture(scope="module")
def tone_with_art(media_dir) -> Path:
    """An MP3 carrying its own (red, 300x300 PNG) cover, as music files do."""
    art = media_dir / "red.png"
    Image.new("RGB", (300, 300), (220, 20, 20)).save(art)
    path = media_dir / "tone-with-art.mp3"
    ffmpeg(
        *lavfi("sine=duration=3"),
        *("-i", str(art), "-map", "0:a", "-map", "1:v", "-c:a", "libmp3lame", "-c:v", "png"),
        *("-disposition:v", "attached_pic", "-id3v2_version", "3", str(path)),
    )
    return path


def embedded_picture(mp3: Path, tmp_path: Path) -> Image.Image | None:
    """Return the MP3's attached picture (ID3 APIC), or None when it has none."""
    info = probe(mp3)
    assert info.audio_streams[0].codec == "mp3"
    if not info.has_video:
        return None
    assert info.cover_art  # an attached picture, not a video stream
    out = tmp_path / "apic.img"
    ffmpeg("-i", str(mp3), "-an", "-c:v", "copy", "-f", "image2", str(out))
    with Image.open(out) as picture:
        picture.load()
        return picture


def test_video_gets_a_still_past_black_and_flat_frames(late_start, tmp_path):
    dst = tmp_path / "out.mp3"
    to_mp3(late_start, dst)
    picture = embedded_picture(dst, tmp_path)
    assert picture is not None
    assert picture.format == "JPEG"
    assert picture.size == (COVER_WIDTH, 338)
    # The black (0.4 s, the 10% point) and grey (1.0 s, 1.6 s) candidates were passed over.
    assert not is_blank(picture)
    assert ImageStat.Stat(picture.convert("L")).stddev[0] > 30


def test_all_black_video_gets_no_picture(all_black, tmp_path):
    assert not video_still(all_black, tmp_path / "still.jpg", duration=3.0)
    assert list(tmp_path.iterdir()) == []
    dst = tmp_path / "out.mp3"
    to_mp3(all_black, dst)
    assert embedded_picture(dst, tmp_path) is None


def test_moments_past_the_end_find_nothing_quietly(late_start, tmp_path):
    # A container that overstates its duration: every candidate lies past the real end.
    assert not video_still(late_start, tmp_path / "still.jpg", duration=100.0)
    assert list(tmp_path.iterdir()) == []


def test_small_video_is_not_upscaled(corpus, tmp_path):
    dst = tmp_path / "out.mp3"
    to_mp3(corpus["mp4"], dst, ConversionOptions(cover="auto"))
    assert embedded_picture(dst, tmp_path).size == (160, 120)


def test_cover_none_embeds_nothing(late_start, tmp_path):
    dst = tmp_path / "out.mp3"
    to_mp3(late_start, dst, ConversionOptions(cover="none"))
    assert embedded_picture(dst, tmp_path) is None


def test_audio_keeps_its_own_cover(tone_with_art, tmp_path):
    dst = tmp_path / "out.mp3"
    to_mp3(tone_with_art, dst, ConversionOptions(bitrate=128))
    picture = embedded_picture(dst, tmp_path)
    assert picture.size == (300, 300)
    red, green, blue = picture.convert("RGB").getpixel((150, 150))
    assert red > 180 and green < 60 and blue < 60


def test_audio_without_cover_stays_without(corpus, tmp_path):
    dst = tmp_path / "out.mp3"
    to_mp3(corpus["wav"], dst)
    assert embedded_picture(dst, tmp_path) is None


def test_uploaded_image_replaces_the_still(late_start, tmp_path):
    image = tmp_path / "poster.png"
    Image.new("RGB", (1000, 500), (20, 20, 220)).save(image)
    dst = tmp_path / "out.mp3"
    to_mp3(late_start, dst, ConversionOptions(cover="image"), cover_image=image)
    picture = embedded_picture(dst, tmp_path)
    assert picture.size == (COVER_WIDTH, 300)
    assert picture.convert("RGB").getpixel((300, 150))[2] > 180
    assert list(tmp_path.glob(".*")) == []  # no temporary picture left behind


def test_unreadable_image_is_an_options_error(corpus, tmp_path):
    image = tmp_path / "poster.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    with pytest.raises(InvalidOptionsError) as caught:
        to_mp3(
            corpus["wav"], tmp_path / "out.mp3", ConversionOptions(cover="image"), cover_image=image
        )
    assert caught.value.field == "cover"
    assert list(tmp_path.glob("*.mp3")) == [] and list(tmp_path.glob(".*")) == []


@pytest.fixture(scope="module")
def phone_video(media_dir) -> Path:
    """A 320x180 clip whose display matrix says: turn it 90 degrees (as phones record)."""
    flat = media_dir / "flat.mp4"
    ffmpeg(
        *lavfi("testsrc2=size=320x180:rate=25:duration=4"),
        *lavfi("sine=duration=4"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-shortest"),
        str(flat),
    )
    path = media_dir / "phone.mp4"
    ffmpeg("-display_rotation", "90", "-i", str(flat), "-c", "copy", str(path))
    return path


def test_phone_video_still_is_upright(phone_video, tmp_path):
    media = probe(phone_video)
    assert media.rotation == 90.0
    dst = tmp_path / "out.mp3"
    to_mp3(phone_video, dst, media=media)
    picture = embedded_picture(dst, tmp_path).convert("L")
    assert picture.size == (180, 320)
    # ffmpeg's own upright rendering of the keyframe at 0.4 s (the first candidate).
    reference = tmp_path / "reference.png"
    ffmpeg("-ss", "0", "-i", str(phone_video), "-frames:v", "1", str(reference))
    with Image.open(reference) as upright:
        upright = upright.convert("L")
        assert upright.size == (180, 320)
        turned = upright.rotate(180)

        def distance(a, b):
            return ImageStat.Stat(ImageChops.difference(a, b)).mean[0]

        assert distance(picture, upright) < 10 < distance(picture, turned)


def test_short_video_still_comes_from_the_conversions_own_keyframes(
    late_start, tmp_path, monkeypatch
):
    # A keyframe every second: black at 0 s (the 10% point), grey at 1 s (the 25% point) and the
    # pattern at 2 s, the keyframe before the 60% point.
    src = tmp_path / "gop25.mp4"
    ffmpeg("-i", str(late_start), "-c:a", "copy", "-c:v", "libx264", "-g", "25", str(src))

    def no_second_look(*args, **kwargs):
        raise AssertionError("the still must come from the conversion's own run")

    monkeypatch.setattr(convert_module, "video_still", no_second_look)
    dst = tmp_path / "out.mp3"
    to_mp3(src, dst)
    picture = embedded_picture(dst, tmp_path)
    assert picture.size == (COVER_WIDTH, 338)
    assert ImageStat.Stat(picture.convert("L")).stddev[0] > 30
    assert sorted(path.name for path in tmp_path.iterdir()) == ["apic.img", "gop25.mp4", "out.mp3"]


def test_long_or_cut_video_still_is_read_with_moviepy(tmp_path, monkeypatch):
    src = tmp_path / "long.mp4"
    ffmpeg(
        *lavfi(f"testsrc2=size=160x90:rate=5:duration={SHORT_MEDIA_SECONDS + 10}"),
        *lavfi(f"sine=sample_rate=8000:duration={SHORT_MEDIA_SECONDS + 10}"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(src)),
    )
    calls = []

    def spy(*args, **kwargs):
        calls.append(args)
        return video_still(*args, **kwargs)

    monkeypatch.setattr(convert_module, "video_still", spy)
    dst = tmp_path / "out.mp3"
    to_mp3(src, dst, ConversionOptions(bitrate=32))
    assert len(calls) == 1
    assert embedded_picture(dst, tmp_path).size == (160, 90)
    to_mp3(src, dst, ConversionOptions(bitrate=32, start=30, end=60))
    assert len(calls) == 2
    assert embedded_picture(dst, tmp_path).size == (160, 90)


def test_when_the_stills_break_the_command_the_audio_converts_and_moviepy_reads_one(
    late_start, tmp_path, monkeypatch
):
    def broken_output(folder, duration):
        return ["-map", "0:v:0", "-filter:v", "no_such_filter", "-f", "image2", str(folder)]

    monkeypatch.setattr(keyframes, "output_args", broken_output)
    dst = tmp_path / "out.mp3"
    result = to_mp3(late_start, dst)
    assert abs(result.duration - 4.0) < 0.1
    assert not is_blank(embedded_picture(dst, tmp_path))


def test_the_stills_do_not_stretch_the_measured_duration(tmp_path):
    # 20 s of video (a keyframe a second, the stills reach 12 s) and 3 s of audio: the MP3's
    # duration is ffmpeg's progress clock, which the stills' output must not lead.
    src = tmp_path / "short-audio.mp4"
    ffmpeg(
        *lavfi("testsrc2=size=320x180:rate=25:duration=20"),
        *lavfi("sine=duration=3"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", str(src)),
    )
    dst = tmp_path / "out.mp3"
    result = to_mp3(src, dst)
    assert abs(result.duration - 3.0) < 0.1
    assert embedded_picture(dst, tmp_path).size == (320, 180)
