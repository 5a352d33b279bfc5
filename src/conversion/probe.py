"""Read what a media file contains, from the header dump of ``ffmpeg -i``.

There is no ffprobe here, so :func:`probe` runs ``ffmpeg -hide_banner -i FILE`` (which only opens
the input and reads its headers, then exits complaining there is no output) and
:func:`parse_probe` turns the "Input #0" block of its stderr into a :class:`MediaInfo`. The parser
is a pure function over text so it can be tested on captured dumps.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections.abc import Mapping
from typing import Any

from .errors import NotMediaError
from .ffmpeg import ffmpeg_exe, input_args
from .process import CancelCheck, run_ffmpeg

# Reading headers takes milliseconds; a probe that runs this long is stuck on a hostile file.
PROBE_TIMEOUT = 30.0

# Tags that describe the content (as opposed to muxer bookkeeping such as handler_name); the
# ones an MP3 carries over. Ogg and some Matroska files keep them on the audio stream.
DESCRIPTIVE_TAGS = (
    "title",
    "artist",
    "album",
    "album_artist",
    "composer",
    "performer",
    "genre",
    "date",
    "track",
    "disc",
    "comment",
    "copyright",
    "publisher",
    "language",
)

# Named channel layouts ffmpeg prints instead of a count.
_LAYOUT_CHANNELS = {
    "mono": 1,
    "stereo": 2,
    "downmix": 2,
    "quad": 4,
    "hexagonal": 6,
    "octagonal": 8,
    "hexadecagonal": 16,
    "cube": 8,
}

TRUNCATED_MP4_REASON = (
    "The file is incomplete: its MP4 index (the 'moov' atom) is missing, "
    "which usually means the upload or recording was cut short."
)
_MP4_FIRST_BOXES = (b"ftyp", b"mdat", b"moov", b"free", b"skip", b"wide")

_INPUT_RE = re.compile(r"^Input #0, (?P<format>.+), from '")
_DURATION_RE = re.compile(r"^\s+Duration: (?:(?P<h>\d+):(?P<m>\d\d):(?P<s>\d\d(?:\.\d+)?)|N/A)")
_STREAM_RE = re.compile(
    r"^\s+Stream #0:(?P<index>\d+)(?:\[[^\]]*\])?(?:\((?P<lang>[^)]*)\))?: "
    r"(?P<type>\w+): (?P<details>.*)$"
)
_DISPOSITIONS_RE = re.compile(r"(?:\s\([a-z ]+\))+$")
_METADATA_RE = re.compile(r"^(?P<indent>\s+)Metadata:\s*$")
_TAG_RE = re.compile(r"^(?P<indent>\s+)(?P<key>[^:]*?)\s*: (?P<value>.*)$")
_SAMPLE_RATE_RE = re.compile(r"^(\d+) Hz$")
_BITRATE_RE = re.compile(r"^(\d+) kb/s$")
_CHANNELS_RE = re.compile(r"^(\d+) channels")
_LAYOUT_RE = re.compile(r"^(\d+)\.(\d+)")
_ROTATION_RE = re.compile(r"^\s+Display Matrix: rotation of (-?\d+(?:\.\d+)?) degrees")


@dataclasses.dataclass(frozen=True)
class AudioStream:
    """One audio stream; ``index`` counts audio streams only (ffmpeg's ``0:a:INDEX``)."""

    index: int
    codec: str
    channels: int | None
    sample_rate: int | None
    bitrate: int | None  # kbit/s, when the container states it
    language: str | None
    default: bool


@dataclasses.dataclass(frozen=True)
class MediaInfo:
    """What a media file contains. ``duration`` is None when the container does not say."""

    container: str
    duration: float | None
    audio_streams: list[AudioStream] = dataclasses.field(default_factory=list)
    has_video: bool = False  # a video stream or an attached picture
    video_codec: str | None = None
    cover_art: bool = False  # the only pictures are attached covers (album art, no moving video)
    rotation: float = 0.0  # the video's display matrix, counter-clockwise degrees (phone videos)
    tags: dict[str, str] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the facts as a JSON-serialisable dict (for a job row)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MediaInfo:
        """Rebuild the facts stored by :meth:`to_dict`, e.g. to skip a second probe."""
        streams = [AudioStream(**stream) for stream in data["audio_streams"]]
        return cls(**{**data, "audio_streams": streams, "tags": dict(data["tags"])})

    @property
    def default_audio(self) -> AudioStream | None:
        """Return the default-flagged audio stream, else the first, else None."""
        for stream in self.audio_streams:
            if stream.default:
                return stream
        return self.audio_streams[0] if self.audio_streams else None


def probe(
    path: str | os.PathLike[str],
    *,
    deadline: float | None = None,
    cancel: CancelCheck | None = None,
) -> MediaInfo:
    """Probe ``path`` and return its :class:`MediaInfo`.

    Raise :class:`NotMediaError` for empty, unreadable or unsupported files and
    :class:`FileNotFoundError` when ``path`` does not exist.
    """
    if os.stat(path).st_size == 0:
        raise NotMediaError("The file is empty.")
    if deadline is None:
        deadline = time.monotonic() + PROBE_TIMEOUT
    # The header dump sits at the start of stderr; keep plenty of it, drop the rest.
    result = run_ffmpeg(
        [ffmpeg_exe(), "-nostdin", "-hide_banner", *input_args(path)],
        deadline=deadline,
        cancel=cancel,
        stderr_head=4 << 20,
        stderr_tail=4096,
    )
    try:
        return parse_probe(result.stderr)
    except NotMediaError as error:
        # ffmpeg guesses MP4 from the name alone; only a file that starts like one is "truncated".
        if error.reason == TRUNCATED_MP4_REASON and not _looks_like_mp4(path):
            raise NotMediaError() from None
        raise


def _looks_like_mp4(path: str | os.PathLike[str]) -> bool:
    with open(path, "rb") as file:
        return file.read(8)[4:8] in _MP4_FIRST_BOXES


def parse_probe(text: str) -> MediaInfo:
    """Parse the stderr of ``ffmpeg -i FILE`` into a :class:`MediaInfo`.

    Raise :class:`NotMediaError` with a reason for the user when ffmpeg could not open the file.
    """
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _INPUT_RE.match(line)), None)
    if start is None:
        raise _open_error(text)
    container = _INPUT_RE.match(lines[start])["format"]
    duration: float | None = None
    audio: list[tuple[AudioStream, dict[str, str]]] = []
    video_codec: str | None = None
    has_video = False
    moving_video = False
    rotation: float | None = None
    in_video = False
    tags: dict[str, str] = {}
    stream_tags: dict[str, str] | None = None  # tags of the audio stream being read, if any
    block: dict[str, str] | None = None  # the Metadata block being read
    block_indent = 0
    last_key = ""

    for line in lines[start + 1 :]:
        if not line.startswith(" "):
            break  # the "Input #0" dump ends at the first unindented line
        if block is not None:
            tag = _TAG_RE.match(line)
            if tag and len(tag["indent"]) > block_indent:
                if tag["key"]:
                    last_key = tag["key"].lower()
                    block[last_key] = tag["value"]
                elif last_key:  # a continuation line of a multi-line value
                    block[last_key] += "\n" + tag["value"]
                continue
            block = None
        if meta := _METADATA_RE.match(line):
            block_indent = len(meta["indent"])
            # Global tags sit at indent 2; deeper blocks belong to the stream (or chapter) above.
            if block_indent <= 2:
                block = tags
            elif stream_tags is not None:
                block = stream_tags
            else:
                block = {}
            last_key = ""
        elif dur := _DURATION_RE.match(line):
            if dur["h"] is not None:
                duration = int(dur["h"]) * 3600 + int(dur["m"]) * 60 + float(dur["s"])
        elif (turned := _ROTATION_RE.match(line)) and in_video and rotation is None:
            rotation = float(turned[1])
        elif stream := _STREAM_RE.match(line):
            stream_tags = None
            kind = stream["type"]
            in_video = kind == "Video"
            details = stream["details"]
            if kind == "Audio":
                stream_tags = {}
                audio.append((_audio_stream(len(audio), stream["lang"], details), stream_tags))
            elif kind == "Video":
                has_video = True
                moving_video = moving_video or "(attached pic)" not in details
                video_codec = video_codec or details.split(maxsplit=1)[0].rstrip(",")

    if not audio and not has_video:
        raise NotMediaError("The file contains no audio or video.")
    # Descriptive tags missing from the file level come from the audio streams, default first;
    # not a stream's language, which describes that track rather than the content.
    for _, stream_tag_block in sorted(audio, key=lambda pair: not pair[0].default):
        for key in DESCRIPTIVE_TAGS:
            if key not in tags and key != "language" and stream_tag_block.get(key):
                tags[key] = stream_tag_block[key]
    return MediaInfo(
        container=container,
        duration=duration,
        audio_streams=[_with_language(s, tags_) for s, tags_ in audio],
        has_video=has_video,
        video_codec=video_codec,
        cover_art=has_video and not moving_video,
        rotation=rotation or 0.0,
        tags=tags,
    )


def _audio_stream(index: int, lang: str | None, details: str) -> AudioStream:
    """Parse the part of an audio stream line after ``Audio: ``."""
    flags = _DISPOSITIONS_RE.search(details)
    dispositions = flags.group(0) if flags else ""
    if flags:
        details = details[: flags.start()]
    fields = _split_top_level(details)
    codec = fields[0].split(maxsplit=1)[0] if fields and fields[0] else "unknown"
    sample_rate = channels = bitrate = None
    for i, item in enumerate(fields[1:], start=1):
        if rate := _SAMPLE_RATE_RE.match(item):
            sample_rate = int(rate[1])
            if i + 1 < len(fields):
                channels = _channel_count(fields[i + 1])
        elif kbps := _BITRATE_RE.match(item):
            bitrate = int(kbps[1])
    return AudioStream(
        index=index,
        codec=codec,
        channels=channels,
        sample_rate=sample_rate,
        bitrate=bitrate,
        language=lang if lang and lang != "und" else None,
        default="(default)" in dispositions,
    )


def _with_language(stream: AudioStream, tags: dict[str, str]) -> AudioStream:
    """Fill the language from the stream's tags when the stream line did not carry one."""
    if stream.language is None and tags.get("language", "und") != "und":
        return dataclasses.replace(stream, language=tags["language"])
    return stream


def _channel_count(layout: str) -> int | None:
    """Turn a layout as ffmpeg prints it ("stereo", "5.1(side)", "3 channels") into a count."""
    layout = layout.strip()
    if match := _CHANNELS_RE.match(layout):
        return int(match[1])
    if match := _LAYOUT_RE.match(layout):
        return int(match[1]) + int(match[2])
    return _LAYOUT_CHANNELS.get(layout.split("(")[0])


def _split_top_level(text: str) -> list[str]:
    """Split at commas that are not inside parentheses (``yuv420p(tv, bt709)`` stays whole)."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return parts


def _open_error(text: str) -> Exception:
    """Turn ffmpeg's complaint about an input it could not open into an exception."""
    if "moov atom not found" in text:
        return NotMediaError(TRUNCATED_MP4_REASON)
    if "Format not on whitelist" in text:
        return NotMediaError("The file's format is not an audio or video format we accept.")
    if "No such file or directory" in text:
        return FileNotFoundError("The input file does not exist.")
    if "Permission denied" in text:
        return PermissionError("The input file cannot be read.")
    return NotMediaError()
