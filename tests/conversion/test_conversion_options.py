"""ConversionOptions: validation, form parsing and JSON round trips."""

from __future__ import annotations

import json

import pytest

from conversion import ConversionOptions, InvalidOptionsError
from conversion.options import nearest_sample_rate


def test_defaults() -> None:
    options = ConversionOptions()
    assert options.effective_bitrate == 192
    assert options.channels == 2 and options.sample_rate is None
    assert not options.changes_audio


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"bitrate": 100}, "bitrate"),
        ({"bitrate": 384}, "bitrate"),
        ({"bitrate": True}, "bitrate"),
        ({"vbr_quality": 10}, "vbr_quality"),
        ({"vbr_quality": 2, "bitrate": 128}, "vbr_quality"),
        ({"sample_rate": 96000}, "sample_rate"),
        ({"sample_rate": 8000, "bitrate": 128}, "bitrate"),
        ({"sample_rate": 22050, "bitrate": 192}, "bitrate"),
        ({"channels": 6}, "channels"),
        ({"start": -1}, "start"),
        ({"start": float("nan")}, "start"),
        ({"start": 5, "end": 5}, "end"),
        ({"end": 0}, "end"),
        ({"normalize": "yes"}, "normalize"),
        ({"title": "x" * 251}, "title"),
        ({"artist": "a\nb"}, "artist"),
        ({"album": 3}, "album"),
        ({"audio_track": -1}, "audio_track"),
    ],
)
def test_invalid(kwargs, field) -> None:
    with pytest.raises(InvalidOptionsError) as caught:
        ConversionOptions(**kwargs)
    assert caught.value.field == field
    assert caught.value.permanent
    assert caught.value.reason.startswith(field)


def test_valid_combinations() -> None:
    options = ConversionOptions(bitrate=320, sample_rate=48000, channels=1, start=1, end=2.5)
    assert options.start == 1.0 and isinstance(options.start, float)
    assert options.changes_audio
    assert ConversionOptions(vbr_quality=0).effective_bitrate is None
    assert ConversionOptions(title="  Song  ").title == "Song"


def test_from_form() -> None:
    options = ConversionOptions.from_form(
        {
            "bitrate": "128k",
            "sample_rate": "44100",
            "channels": "mono",
            "start": "0:01:30.5",
            "end": "100",
            "normalize": "on",
            "title": "Título",
            "artist": "",
            "cover": "false",
            "audio_track": "1",
        }
    )
    assert options == ConversionOptions(
        bitrate=128,
        sample_rate=44100,
        channels=1,
        start=90.5,
        end=100.0,
        normalize=True,
        title="Título",
        cover="none",
        audio_track=1,
    )


@pytest.mark.parametrize(
    ("given", "mode"),
    [("auto", "auto"), ("NONE", "none"), ("true", "auto"), ("off", "none")],
)
def test_cover_from_form(given, mode) -> None:
    assert ConversionOptions.from_form({"cover": given}).cover == mode


def test_cover_defaults_to_auto_and_reads_old_booleans() -> None:
    assert ConversionOptions().cover == "auto"
    assert ConversionOptions.from_dict({"cover": False}).cover == "none"
    assert ConversionOptions.from_dict({"cover": True}).cover == "auto"
    assert ConversionOptions(cover="image").cover == "image"


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"bitrate": "fast"}, "bitrate"),
        ({"start": "1:99:00"}, "start"),
        ({"normalize": "maybe"}, "normalize"),
        ({"cover": "image"}, "cover"),
        ({"cover": "poster.jpg"}, "cover"),
        ({"colour": "red"}, "colour"),
        ({"vbr_quality": "2", "bitrate": "192"}, "vbr_quality"),
    ],
)
def test_from_form_errors(form, field) -> None:
    with pytest.raises(InvalidOptionsError) as caught:
        ConversionOptions.from_form(form)
    assert caught.value.field == field


def test_dict_round_trip() -> None:
    options = ConversionOptions(vbr_quality=3, channels=1, end=12, title="T", cover="none")
    stored = json.loads(json.dumps(options.to_dict()))
    assert ConversionOptions.from_dict(stored) == options
    with pytest.raises(InvalidOptionsError):
        ConversionOptions.from_dict({"speed": 2})


@pytest.mark.parametrize(
    ("rate", "legal"),
    [(96000, 48000), (88200, 48000), (44100, 44100), (6000, 8000), (30000, 32000)],
)
def test_nearest_sample_rate(rate, legal) -> None:
    assert nearest_sample_rate(rate) == legal
