"""probe(): what the header dump of real and captured files says."""

from __future__ import annotations

import json

import pytest

from conversion import MediaInfo, NotMediaError, probe
from conversion.probe import parse_probe

CAPTURED = """\
[mov,mp4,m4a,3gp,3g2,mj2 @ 0x1] stream 0, timescale not set
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'file:/up/it's: odd.mp4':
  Metadata:
    major_brand     : isom
    title           : Key: value, with: colons
    comment         : first line
                    : second line
    album_artist_sort_order_long: long key
  Duration: 01:02:03.50, start: 0.000000, bitrate: 182 kb/s
  Chapters:
    Chapter #0:0: start 0.000000, end 10.000000
      Metadata:
        title           : Chapter One
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709, \
progressive), 1920x1080 [SAR 1:1 DAR 16:9], 5000 kb/s, 29.97 fps, 30 tbn (default)
    Metadata:
      handler_name    : VideoHandler
  Stream #0:1[0x2](eng): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, 5.1(side), fltp, \
384 kb/s
    Metadata:
      title           : Surround
  Stream #0:2[0x3]: Audio: ac3 (ac-3 / 0x332D6361), 44100 Hz, 3 channels, fltp, \
start 0.138125 (default) (dub)
    Metadata:
      language        : ger
  Stream #0:3: Subtitle: mov_text (tx3g / 0x67337874) (default)
  Stream #0:4: Video: mjpeg (Baseline), yuvj420p(pc), 300x300, 90k tbn (attached pic)
At least one output file must be specified
"""


def test_parse_captured_dump() -> None:
    info = parse_probe(CAPTURED)
    assert info.container == "mov,mp4,m4a,3gp,3g2,mj2"
    assert info.duration == pytest.approx(3723.5)
    assert info.has_video and info.video_codec == "h264"
    assert info.tags["title"] == "Key: value, with: colons"
    assert info.tags["comment"] == "first line\nsecond line"
    assert info.tags["album_artist_sort_order_long"] == "long key"
    assert "handler_name" not in info.tags  # stream tags stay out of the file's tags
    first, second = info.audio_streams
    assert (first.index, first.codec, first.channels, first.sample_rate) == (0, "aac", 6, 48000)
    assert (first.bitrate, first.language, first.default) == (384, "eng", False)
    assert (second.index, second.codec, second.channels, second.bitrate) == (1, "ac3", 3, None)
    assert second.language == "ger" and second.default
    assert info.default_audio is second


def test_parse_unknown_duration() -> None:
    text = (
        "Input #0, aac, from 'x':\n"
        "  Duration: N/A, bitrate: N/A\n"
        "  Stream #0:0: Audio: aac (LC), 22050 Hz, stereo, fltp\n"
    )
    info = parse_probe(text)
    assert info.duration is None
    assert info.audio_streams[0].channels == 2
    assert info.default_audio is info.audio_streams[0]


@pytest.mark.parametrize(
    ("name", "container", "codec", "channels", "rate", "video"),
    [
        ("mp4", "mov", "aac", 2, 44100, "h264"),
        ("mkv_vp9_opus", "matroska", "opus", 1, 48000, "vp9"),
        ("webm_vp8_vorbis", "matroska", "vorbis", 1, 44100, "vp8"),
        ("mov", "mov", "pcm_s16le", 1, 44100, "h264"),
        ("avi_mp3", "avi", "mp3", 1, 44100, "mpeg4"),
        ("surround", "mov", "aac", 6, 44100, "h264"),
        ("rate96k", "flac", "flac", 2, 96000, None),
        ("m4a", "mov", "aac", 1, 44100, None),
        ("mp3", "mp3", "mp3", 1, 44100, None),
    ],
)
def test_probe_corpus(corpus, name, container, codec, channels, rate, video) -> None:
    info = probe(corpus[name])
    assert info.container.startswith(container)
    assert info.duration == pytest.approx(3.0, abs=0.1)
    (stream,) = info.audio_streams
    assert (stream.codec, stream.channels, stream.sample_rate) == (codec, channels, rate)
    assert info.has_video is (video is not None)
    assert info.video_codec == video


def test_probe_tags_lowercase(corpus) -> None:
    assert probe(corpus["flac"]).tags["title"] == "Clip: One"
    assert probe(corpus["mp4"]).tags["artist"] == "Corpus Band"


def test_probe_takes_stream_tags_of_ogg(corpus) -> None:
    tags = probe(corpus["ogg"]).tags
    assert (tags["title"], tags["artist"]) == ("Clip: One", "Corpus Band")


def test_probe_several_tracks(corpus) -> None:
    info = probe(corpus["multitrack"])
    assert [s.language for s in info.audio_streams] == ["eng", "fra", "deu"]
    assert [s.sample_rate for s in info.audio_streams] == [44100, 22050, 32000]
    assert info.default_audio.index == 1


def test_probe_video_without_audio(corpus) -> None:
    info = probe(corpus["noaudio"])
    assert info.audio_streams == [] and info.has_video


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("empty.mp4", "empty"),
        ("random.bin", "not"),
        ("text.txt", "not"),
        ("truncated.mp4", "incomplete"),
        ("playlist.m3u8", "not"),
    ],
)
def test_probe_rejects_non_media(corpus, name, words) -> None:
    with pytest.raises(NotMediaError) as caught:
        probe(corpus[name])
    error = caught.value
    assert error.permanent
    assert words in error.reason
    assert str(corpus.root) not in error.reason  # no paths in user-facing reasons


def test_random_bytes_named_mp4_are_not_called_truncated(corpus, tmp_path) -> None:
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(corpus["random.bin"].read_bytes())
    with pytest.raises(NotMediaError) as caught:
        probe(fake)
    assert "not a media file" in caught.value.reason


def test_probe_missing_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        probe(tmp_path / "nope.mp4")


def test_probe_hostile_file_name(corpus, tmp_path) -> None:
    # Names that ffmpeg would otherwise read as options or protocols stay plain file names.
    for name in ("-i", "pipe:1", "http:x.mp4", "a b'\"$(x).mp4"):
        hostile = tmp_path / name
        hostile.write_bytes(corpus["wav"].read_bytes())
        assert probe(hostile).audio_streams[0].codec == "pcm_s16le"


def test_media_info_dict_round_trip(corpus) -> None:
    info = probe(corpus["multitrack"])
    assert MediaInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info
