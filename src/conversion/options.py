"""The user's choices for one conversion, validated once, storable as JSON.

:class:`ConversionOptions` validates in ``__post_init__``, so an instance is always valid whether
it was built in code, from a web form (:meth:`ConversionOptions.from_form`) or from a job row
(:meth:`ConversionOptions.from_dict`). Errors name the offending field.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any

from .errors import InvalidOptionsError

MP3_BITRATES = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
MP3_SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
DEFAULT_BITRATE = 192
MAX_TAG_LENGTH = 250
# auto: the source's own cover, else a still of its video; none: no picture; image: a picture the
# caller hands to to_mp3 (the upload's cover file).
COVER_MODES = ("auto", "none", "image")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_CLOCK_RE = re.compile(r"^(?:(\d+):)?(\d+):(\d{1,2}(?:\.\d+)?)$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def max_bitrate(sample_rate: int) -> int:
    """Return the highest bitrate (kbit/s) MP3 allows at ``sample_rate``.

    MPEG-1 (32-48 kHz) goes to 320 kbit/s, MPEG-2 (16-24 kHz) to 160; LAME caps MPEG-2.5
    (8-12 kHz) at 64.
    """
    if sample_rate >= 32000:
        return 320
    if sample_rate >= 16000:
        return 160
    return 64


def nearest_sample_rate(rate: int) -> int:
    """Return the MP3-legal sample rate nearest to ``rate`` (the higher one on a tie)."""
    return min(MP3_SAMPLE_RATES, key=lambda legal: (abs(legal - rate), -legal))


@dataclasses.dataclass(frozen=True)
class ConversionOptions:
    """How to encode the MP3. Defaults: 192 kbit/s CBR, the source's sample rate, stereo.

    ``bitrate`` None means the default 192 kbit/s, except that a source already in MP3 is then
    copied untouched. ``start``/``end`` are seconds into the source; ``audio_track`` counts audio
    tracks only (None: the default-flagged track, else the first). ``cover`` is one of
    :data:`COVER_MODES`; True and False (stored by older versions) mean auto and none.
    """

    bitrate: int | None = None
    vbr_quality: int | None = None
    sample_rate: int | None = None
    channels: int = 2
    start: float | None = None
    end: float | None = None
    normalize: bool = False
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    cover: str = "auto"
    audio_track: int | None = None

    def __post_init__(self) -> None:
        if self.bitrate is not None:
            _require_int("bitrate", self.bitrate)
            if self.bitrate not in MP3_BITRATES:
                raise InvalidOptionsError(
                    "bitrate", f"must be one of {', '.join(map(str, MP3_BITRATES))} kbit/s"
                )
        if self.vbr_quality is not None:
            _require_int("vbr_quality", self.vbr_quality)
            if not 0 <= self.vbr_quality <= 9:
                raise InvalidOptionsError("vbr_quality", "must be between 0 (best) and 9")
            if self.bitrate is not None:
                raise InvalidOptionsError("vbr_quality", "cannot be combined with bitrate")
        if self.sample_rate is not None:
            _require_int("sample_rate", self.sample_rate)
            if self.sample_rate not in MP3_SAMPLE_RATES:
                raise InvalidOptionsError(
                    "sample_rate", f"must be one of {', '.join(map(str, MP3_SAMPLE_RATES))} Hz"
                )
            if self.bitrate is not None and self.bitrate > max_bitrate(self.sample_rate):
                raise InvalidOptionsError(
                    "bitrate",
                    f"must be at most {max_bitrate(self.sample_rate)} kbit/s "
                    f"at {self.sample_rate} Hz",
                )
        _require_int("channels", self.channels)
        if self.channels not in (1, 2):
            raise InvalidOptionsError("channels", "must be 1 (mono) or 2 (stereo)")
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _seconds(name, value))
        if self.end is not None and self.end <= (self.start or 0.0):
            raise InvalidOptionsError("end", "must be after start")
        if not isinstance(self.normalize, bool):
            raise InvalidOptionsError("normalize", "must be true or false")
        if isinstance(self.cover, bool):
            object.__setattr__(self, "cover", "auto" if self.cover else "none")
        if self.cover not in COVER_MODES:
            raise InvalidOptionsError("cover", f"must be one of {', '.join(COVER_MODES)}")
        for name in ("title", "artist", "album"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _tag(name, value))
        if self.audio_track is not None:
            _require_int("audio_track", self.audio_track)
            if self.audio_track < 0:
                raise InvalidOptionsError("audio_track", "must be 0 or more")

    @property
    def effective_bitrate(self) -> int | None:
        """Return the CBR bitrate to encode with, or None for VBR."""
        if self.vbr_quality is not None:
            return None
        return self.bitrate or DEFAULT_BITRATE

    @property
    def changes_audio(self) -> bool:
        """Tell whether these options ask for anything beyond re-wrapping the source audio."""
        return (
            self.bitrate is not None
            or self.vbr_quality is not None
            or self.sample_rate is not None
            or self.channels != 2
            or self.start is not None
            or self.end is not None
            or self.normalize
        )

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> ConversionOptions:
        """Parse string form fields named like the attributes; empty fields mean "default"."""
        values: dict[str, Any] = {}
        for name, raw in form.items():
            if name not in _PARSERS:
                raise InvalidOptionsError(name, "is not a known option")
            text = raw.strip()
            if text:
                values[name] = _PARSERS[name](name, text)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Return the options as a JSON-serialisable dict, defaults included."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConversionOptions:
        """Rebuild options from :meth:`to_dict` output; unknown keys are rejected."""
        known = {f.name for f in dataclasses.fields(cls)}
        for name in data:
            if name not in known:
                raise InvalidOptionsError(name, "is not a known option")
        return cls(**data)


def _require_int(name: str, value: object) -> None:
    # bool is an int subclass; True is never a meaningful bitrate or track number.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidOptionsError(name, "must be a whole number")


def _seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidOptionsError(name, "must be a number of seconds")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidOptionsError(name, "must be a finite number of seconds, 0 or more")
    return seconds


def _tag(name: str, value: object) -> str | None:
    if not isinstance(value, str):
        raise InvalidOptionsError(name, "must be text")
    text = value.strip()
    if len(text) > MAX_TAG_LENGTH:
        raise InvalidOptionsError(name, f"must be at most {MAX_TAG_LENGTH} characters")
    if _CONTROL_RE.search(text):
        raise InvalidOptionsError(name, "must not contain control characters")
    return text or None


def _parse_int(name: str, text: str) -> int:
    # Bitrates are commonly written "192k"; every other integer field takes plain digits.
    digits = text[:-1] if name == "bitrate" and text.lower().endswith("k") else text
    try:
        return int(digits)
    except ValueError:
        raise InvalidOptionsError(name, "must be a whole number") from None


def _parse_time(name: str, text: str) -> float:
    """Parse seconds ("90.5") or a clock time ("1:30", "0:01:30.5")."""
    if clock := _CLOCK_RE.match(text):
        hours, minutes, seconds = clock.groups()
        if float(seconds) >= 60 or (hours is not None and int(minutes) >= 60):
            raise InvalidOptionsError(name, "is not a valid time")
        return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    try:
        return float(text)
    except ValueError:
        raise InvalidOptionsError(name, "must be seconds or a time like 1:30") from None


def _parse_bool(name: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidOptionsError(name, "must be true or false")


def _parse_channels(name: str, text: str) -> int:
    named = {"mono": 1, "stereo": 2}
    return named.get(text.lower()) or _parse_int(name, text)


def _parse_cover(name: str, text: str) -> str:
    # "image" comes with a file (the web form's cover part), never as typed text.
    lowered = text.lower()
    if lowered in ("auto", "none"):
        return lowered
    if lowered in _TRUE or lowered in _FALSE:
        return "auto" if lowered in _TRUE else "none"
    raise InvalidOptionsError(name, "must be auto or none, or an uploaded image file")


def _parse_text(name: str, text: str) -> str:
    return text


_PARSERS = {
    "bitrate": _parse_int,
    "vbr_quality": _parse_int,
    "sample_rate": _parse_int,
    "channels": _parse_channels,
    "start": _parse_time,
    "end": _parse_time,
    "normalize": _parse_bool,
    "title": _parse_text,
    "artist": _parse_text,
    "album": _parse_text,
    "cover": _parse_cover,
    "audio_track": _parse_int,
}
