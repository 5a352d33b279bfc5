"""to_mp3(): real conversions of the corpus, options, failures and their clean-up."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from pathlib import Path

import pytest

import conversion.convert
from conversion import (
    Cancelled,
    ConversionError,
    ConversionKilled,
    ConversionOptions,
    DeadlineExceeded,
    InvalidOptionsError,
    NoAudioStreamError,
    NotMediaError,
    OutOfDiskError,
    TooLongError,
    classify_failure,
    deadline_for,
    probe,
    to_mp3,
)
from media import claim_duration, make_clip


def check_mp3(path: Path, duration: float, channels: int, sample_rate: int, **tags: str):
    """Probe an output with our own probe and check what every MP3 must satisfy."""
    info = probe(path)
    assert info.container == "mp3"
    (stream,) = info.audio_streams
    assert stream.codec == "mp3"
    assert info.duration == pytest.approx(duration, abs=0.1)
    assert (stream.channels, stream.sample_rate) == (channels, sample_rate)
    for key, value in tags.items():
        assert info.tags.get(key) == value, key
    return info


@pytest.mark.parametrize(
    ("name", "sample_rate", "title"),
    [
        ("mp4", 44100, "Clip: One"),
        ("mkv_vp9_opus", 48000, "clip"),
        ("webm_vp8_vorbis", 44100, "clip"),
        ("webm_vp9_opus", 48000, "clip9"),
        ("mov", 44100, "clip"),
        ("mono", 44100, "mono"),
        ("surround", 44100, "surround"),
        ("rate8k", 8000, "rate8k"),
        ("rate96k", 48000, "rate96k"),
        ("vfr", 44100, "vfr"),
        ("m4a", 44100, "Clip: One"),
        ("ogg", 44100, "Clip: One"),
        ("wav", 44100, "audio"),
        ("flac", 44100, "Clip: One"),
    ],
)
def test_encode_corpus(corpus, out_dir, no_leftovers, name, sample_rate, title) -> None:
    dst = out_dir / "out.mp3"
    result = to_mp3(corpus[name], dst)
    check_mp3(dst, 3.0, 2, sample_rate, title=title)
    assert not result.copied_stream
    assert result.duration == pytest.approx(3.0, abs=0.1)
    assert (result.channels, result.sample_rate) == (2, sample_rate)
    assert result.size == dst.stat().st_size
    # MP3 caps the bitrate at low sample rates; LAME uses 64 kbit/s at 8 kHz.
    assert result.bitrate == (64 if sample_rate == 8000 else 192)
    assert result.media.audio_streams
    no_leftovers()


@pytest.mark.parametrize("name", ["mp3", "avi_mp3"])
def test_mp3_source_is_copied(corpus, out_dir, name) -> None:
    dst = out_dir / "out.mp3"
    result = to_mp3(corpus[name], dst)
    assert result.copied_stream
    assert result.channels == 1  # a copy keeps the source's layout
    check_mp3(dst, 3.0, 1, 44100)


def test_mp3_source_reencoded_when_options_change_audio(corpus, out_dir) -> None:
    dst = out_dir / "out.mp3"
    result = to_mp3(corpus["mp3"], dst, ConversionOptions(bitrate=96))
    assert not result.copied_stream and result.bitrate == 96
    info = check_mp3(dst, 3.0, 2, 44100, title="Clip: One", artist="Corpus Band")
    assert info.audio_streams[0].bitrate == 96


def test_default_track_and_track_choice(corpus, out_dir) -> None:
    dst = out_dir / "out.mp3"
    assert to_mp3(corpus["multitrack"], dst).sample_rate == 22050
    check_mp3(dst, 3.0, 2, 22050)
    assert to_mp3(corpus["multitrack"], dst, ConversionOptions(audio_track=2)).sample_rate == 32000
    check_mp3(dst, 3.0, 2, 32000)
    with pytest.raises(InvalidOptionsError) as caught:
        to_mp3(corpus["multitrack"], dst, ConversionOptions(audio_track=3))
    assert caught.value.field == "audio_track" and "3 audio tracks" in caught.value.reason


@pytest.mark.parametrize(
    ("options", "duration", "channels", "rate", "bitrate"),
    [
        (ConversionOptions(bitrate=32), 3.0, 2, 44100, 32),
        (ConversionOptions(bitrate=320), 3.0, 2, 44100, 320),
        (ConversionOptions(sample_rate=22050, bitrate=64), 3.0, 2, 22050, 64),
        (ConversionOptions(sample_rate=48000), 3.0, 2, 48000, 192),
        (ConversionOptions(channels=1), 3.0, 1, 44100, 192),
        (ConversionOptions(start=0.5, end=2.0), 1.5, 2, 44100, 192),
        (ConversionOptions(start=1), 2.0, 2, 44100, 192),
        (ConversionOptions(end=10), 3.0, 2, 44100, 192),
        (ConversionOptions(normalize=True), 3.0, 2, 44100, 192),
    ],
)
def test_options(corpus, out_dir, options, duration, channels, rate, bitrate) -> None:
    dst = out_dir / "out.mp3"
    result = to_mp3(corpus["mp4"], dst, options)
    info = check_mp3(dst, duration, channels, rate)
    assert result.bitrate == bitrate
    assert info.audio_streams[0].bitrate == bitrate
    assert result.duration == pytest.approx(duration, abs=0.1)


def test_vbr(corpus, out_dir) -> None:
    dst = out_dir / "out.mp3"
    result = to_mp3(corpus["wav"], dst, ConversionOptions(vbr_quality=9, channels=1))
    check_mp3(dst, 3.0, 1, 44100)
    # A pure tone at the lowest VBR quality needs far less than the 192k CBR default.
    assert result.bitrate is not None and result.bitrate < 100


def test_tags(corpus, out_dir) -> None:
    dst = out_dir / "out.mp3"
    options = ConversionOptions(title="Ünïcode — title", artist="Art", album="Alb")
    to_mp3(corpus["mp4"], dst, options)
    check_mp3(dst, 3.0, 2, 44100, title="Ünïcode — title", artist="Art", album="Alb")
    info = probe(dst)
    assert not {"major_brand", "compatible_brands", "handler_name"} & set(info.tags)
    # Without options the source's tags survive; without a source title the fallback is used.
    to_mp3(corpus["mp4"], dst)
    check_mp3(dst, 3.0, 2, 44100, title="Clip: One", artist="Corpus Band")
    to_mp3(corpus["wav"], dst, fallback_title="My upload")
    check_mp3(dst, 3.0, 2, 44100, title="My upload")


def test_progress(corpus, out_dir) -> None:
    seen: list[float] = []
    to_mp3(corpus["mp4"], out_dir / "out.mp3", on_progress=seen.append)
    assert seen and seen[-1] == 100.0
    assert seen == sorted(seen) and all(0 <= p <= 100 for p in seen)


def test_precomputed_media_skips_probe(corpus, out_dir, monkeypatch) -> None:
    media = probe(corpus["mp4"])
    monkeypatch.setattr(conversion.convert, "probe", pytest.fail)
    assert to_mp3(corpus["mp4"], out_dir / "out.mp3", media=media).media is media


def test_output_permissions_follow_umask(corpus, out_dir) -> None:
    dst = out_dir / "out.mp3"
    umask = os.umask(0o022)
    try:
        to_mp3(corpus["wav"], dst)
    finally:
        os.umask(umask)
    assert dst.stat().st_mode & 0o777 == 0o644


def test_missing_output_folder(corpus, tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        to_mp3(corpus["wav"], tmp_path / "nope" / "out.mp3")


def test_replaces_existing_destination(corpus, out_dir) -> None:
    dst = out_dir / "out.mp3"
    dst.write_bytes(b"old")
    to_mp3(corpus["wav"], dst)
    check_mp3(dst, 3.0, 2, 44100)
    assert sorted(p.name for p in out_dir.iterdir()) == ["out.mp3"]


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("noaudio", NoAudioStreamError),
        ("truncated.mp4", NotMediaError),
        ("empty.mp4", NotMediaError),
        ("random.bin", NotMediaError),
        ("playlist.m3u8", NotMediaError),
    ],
)
def test_bad_inputs(corpus, out_dir, no_leftovers, name, error) -> None:
    dst = out_dir / "out.mp3"
    with pytest.raises(error) as caught:
        to_mp3(corpus[name], dst)
    assert caught.value.permanent
    assert not dst.exists()
    no_leftovers()


def test_too_long(corpus, out_dir, no_leftovers) -> None:
    dst = out_dir / "out.mp3"
    with pytest.raises(TooLongError) as caught:
        to_mp3(corpus["mp4"], dst, max_duration=2)
    assert caught.value.permanent and "0:00:03" in caught.value.reason
    assert not dst.exists()
    no_leftovers()


def test_too_long_without_stated_duration(corpus, out_dir, no_leftovers) -> None:
    # A container that does not state its duration is stopped once it passes the maximum.
    unknown = dataclasses.replace(probe(corpus["wav"]), duration=None)
    with pytest.raises(TooLongError):
        to_mp3(corpus["wav"], out_dir / "out.mp3", media=unknown, max_duration=1)
    no_leftovers()


def test_a_container_stating_ten_hours_is_judged_by_what_it_holds(tmp_path, out_dir) -> None:
    lying = claim_duration(make_clip(tmp_path / "clip.mkv", 2.0), 10 * 3600)
    media = probe(lying)
    assert media.duration == 10 * 3600
    result = to_mp3(lying, out_dir / "out.mp3", media=media, max_duration=4 * 3600)
    assert result.duration == pytest.approx(2.0, abs=0.2)
    check_mp3(out_dir / "out.mp3", 2.0, 2, 44100)


def test_a_true_long_duration_is_refused_before_converting(
    tmp_path, out_dir, no_leftovers, monkeypatch
):
    # The stated 30 s is checked by a seek past the limit; the encoder never starts.
    clip = make_clip(tmp_path / "clip.mkv", 30.0, video=False)
    commands = []
    real_run = conversion.convert.run_ffmpeg

    def recording_run(args, **kwargs):
        commands.append(args)
        return real_run(args, **kwargs)

    monkeypatch.setattr(conversion.convert, "run_ffmpeg", recording_run)
    with pytest.raises(TooLongError) as caught:
        to_mp3(clip, out_dir / "out.mp3", max_duration=10)
    assert caught.value.reason == "The media lasts 0:00:30, longer than the allowed 0:00:10."
    assert commands and not any("libmp3lame" in args for args in commands)
    no_leftovers()


def test_a_container_understating_its_length_is_stopped_at_the_limit(
    tmp_path, out_dir, no_leftovers
) -> None:
    clip = make_clip(tmp_path / "clip.mkv", 30.0, video=False)
    lying = claim_duration(clip, 2.0)
    assert probe(lying).duration == 2.0
    with pytest.raises(TooLongError) as caught:
        to_mp3(lying, out_dir / "out.mp3", max_duration=10)
    assert caught.value.permanent
    assert caught.value.reason == "The media lasts longer than the allowed 0:00:10."
    no_leftovers()


def test_start_past_end(corpus, out_dir) -> None:
    with pytest.raises(InvalidOptionsError) as caught:
        to_mp3(corpus["mp4"], out_dir / "out.mp3", ConversionOptions(start=5))
    assert caught.value.field == "start"


NORMALIZE = ConversionOptions(normalize=True)


@pytest.mark.parametrize("kind", ["event", "callable"])
def test_cancel_kills_ffmpeg(corpus, out_dir, no_leftovers, kind) -> None:
    event = threading.Event()
    cancel = event if kind == "event" else event.is_set
    dst = out_dir / "out.mp3"
    with pytest.raises(Cancelled) as caught:
        to_mp3(corpus["long"], dst, NORMALIZE, on_progress=lambda _: event.set(), cancel=cancel)
    assert not caught.value.permanent
    assert not dst.exists()
    no_leftovers()


def test_deadline_kills_ffmpeg(corpus, out_dir, no_leftovers) -> None:
    deadline = time.monotonic() + 0.5
    with pytest.raises(DeadlineExceeded) as caught:
        to_mp3(corpus["long"], out_dir / "out.mp3", NORMALIZE, deadline=deadline)
    assert isinstance(caught.value, ConversionKilled) and not caught.value.permanent
    no_leftovers()


@pytest.mark.parametrize("exception", [RuntimeError, KeyboardInterrupt])
def test_exception_in_callback_kills_ffmpeg(corpus, out_dir, no_leftovers, exception) -> None:
    def explode(_: float) -> None:
        raise exception()

    with pytest.raises(exception):
        to_mp3(corpus["long"], out_dir / "out.mp3", NORMALIZE, on_progress=explode)
    no_leftovers()


def test_disk_full(corpus, out_dir, no_leftovers, monkeypatch) -> None:
    # /dev/full fails every write with ENOSPC, exactly like a full disk.
    monkeypatch.setattr(conversion.convert, "output_arg", lambda _: "file:/dev/full")
    with pytest.raises(OutOfDiskError) as caught:
        to_mp3(corpus["wav"], out_dir / "out.mp3")
    assert not caught.value.permanent and caught.value.detail
    no_leftovers()


@pytest.mark.parametrize(
    ("returncode", "stderr", "error", "permanent"),
    [
        (1, "av_interleaved_write_frame(): No space left on device", OutOfDiskError, False),
        (-9, "", ConversionKilled, False),
        (255, "Exiting normally, received signal 15.", ConversionKilled, False),
        (1, "Error while decoding stream #0:1: Invalid data found", NotMediaError, True),
        (1, "Something new", ConversionError, False),
    ],
)
def test_classify_failure(returncode, stderr, error, permanent) -> None:
    failure = classify_failure(returncode, stderr)
    assert type(failure) is error
    assert failure.permanent is permanent
    assert "/" not in failure.reason


def test_deadline_for() -> None:
    assert deadline_for(100, now=1000.0) == pytest.approx(1000 + 60 + 100)
    assert deadline_for(None, now=0.0) == pytest.approx(60 + 3600)
    assert deadline_for(10) > time.monotonic() + 60
