"""Convert one media file to MP3 with a single supervised ffmpeg process.

Owns the plan (which stream, copy or encode, rate, channels, bitrate), the ffmpeg command, the
progress reporting, the atomic write of the result, and the mapping of ffmpeg failures onto
:mod:`conversion.errors`. No decoded audio passes through Python: ffmpeg reads the source and
writes the MP3 itself, we only read its progress lines and the tail of its error log. The same
process can write the waveform's PCM and a short video's candidate cover stills as further
outputs of the one decode; a cover we make is added to the finished MP3 (:mod:`conversion.id3`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from . import keyframes
from .cover import COVER_WIDTH, cover_jpeg, video_still
from .errors import (
    ConversionError,
    ConversionKilled,
    InvalidOptionsError,
    NoAudioStreamError,
    NotMediaError,
    OutOfDiskError,
    TooLongError,
)
from .ffmpeg import ffmpeg_exe, input_args, output_arg
from .id3 import add_cover
from .options import MP3_SAMPLE_RATES, ConversionOptions, max_bitrate, nearest_sample_rate
from .probe import DESCRIPTIVE_TAGS, AudioStream, MediaInfo, probe
from .process import CancelCheck, run_ffmpeg
from .waveform import pcm_output_args

# deadline_for(): a fixed allowance for process start, probing and a busy machine, plus one
# second per second of media. libmp3lame runs at ~180x realtime on one core here and loudnorm at
# ~35x, so a conversion slower than realtime is stuck or starved, not merely slow.
DEADLINE_BASE = 60.0
DEADLINE_PER_MEDIA_SECOND = 1.0
# The duration limit judges the audio actually decoded: ffmpeg stops DURATION_SLACK seconds past
# the limit on its own, and the media counts as too long once decoding passed the limit by half
# of that (frame and packet boundaries, encoder priming, never more than a fraction of a second).
DURATION_SLACK = 1.0
# At most this many progress callbacks per second.
PROGRESS_INTERVAL = 0.5
# EBU R128 targets for spoken word and music on streaming platforms.
LOUDNORM_FILTER = "loudnorm=I=-16:TP=-1.5:LRA=11"
UNDECODABLE_REASON = "The file's audio could not be decoded; it may be damaged."

ProgressCallback = Callable[[float], None]
log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ConversionResult:
    """What was written. ``bitrate`` is kbit/s: the CBR rate, else the file's average."""

    duration: float
    bitrate: int | None
    sample_rate: int
    channels: int
    size: int
    copied_stream: bool
    media: MediaInfo


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What the ffmpeg command must do, decided from the media and the options."""

    stream: AudioStream
    copy: bool
    sample_rate: int
    channels: int
    bitrate: int | None  # None with VBR or copy
    start: float | None
    length: float | None  # seconds to encode from start, None for "to the end"
    expected_duration: float | None
    # "none"; "own": the source's attached picture, copied by ffmpeg; added after the encode:
    # "keyframes" (a still from the encode's own keyframes: short uncut videos), "still"
    # (conversion.cover's, for the others) or "image" (the user's)
    cover: str


def deadline_for(duration: float | None, now: float | None = None) -> float:
    """Return an absolute :func:`time.monotonic` deadline for converting ``duration`` seconds.

    The formula is ``now + DEADLINE_BASE + DEADLINE_PER_MEDIA_SECOND * duration``, i.e. one minute
    plus realtime; an unknown duration counts as one hour.
    """
    if now is None:
        now = time.monotonic()
    seconds = 3600.0 if duration is None else max(0.0, duration)
    return now + DEADLINE_BASE + DEADLINE_PER_MEDIA_SECOND * seconds


def to_mp3(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    options: ConversionOptions | None = None,
    on_progress: ProgressCallback | None = None,
    deadline: float | None = None,
    cancel: CancelCheck | None = None,
    max_duration: float | None = None,
    media: MediaInfo | None = None,
    fallback_title: str | None = None,
    cover_image: str | os.PathLike[str] | None = None,
    waveform_pcm: str | os.PathLike[str] | None = None,
) -> ConversionResult:
    """Convert ``src`` to an MP3 at ``dst`` and describe the result.

    ``deadline`` is an absolute :func:`time.monotonic` value (see :func:`deadline_for`);
    ``cancel`` is a :class:`threading.Event` or a callable returning True to stop.
    ``max_duration`` (seconds) refuses longer sources by the audio there, not by the duration the
    container states (which may lie): a stated duration past it is checked by seeking there; else
    ffmpeg stops shortly past it while converting, and TooLongError follows either way.
    ``media`` skips the probe when the caller already has it. ``fallback_title`` (default: the
    source's file name stem) becomes the title when neither the options nor the source provide
    one. ``cover_image`` is the picture to embed when ``options.cover`` is "image" (without it,
    "image" acts as "auto"). ``waveform_pcm``, if given, receives the same audio as low-rate raw
    PCM from the same decode, for :func:`conversion.waveform.peaks` (before ``normalize``: the
    peaks show the source's levels, so loudnorm, the costly filter, runs once). ``dst`` appears
    atomically, only on success. Raise a :class:`~conversion.errors.ConversionError` subclass on
    failure.
    """
    options = options or ConversionOptions()
    dst = Path(dst)
    if not dst.parent.is_dir():
        raise FileNotFoundError(f"The output folder does not exist: {dst.parent}")
    if media is None:
        media = probe(src, deadline=deadline, cancel=cancel)
    plan = _plan(media, options, has_image=cover_image is not None)
    if max_duration is not None:
        stated = media.duration
        if (
            stated is not None
            and stated > max_duration
            and _audio_past(src, plan.stream, max_duration + DURATION_SLACK / 2, deadline, cancel)
        ):
            # The container's long duration is true: refuse without decoding up to the limit.
            raise TooLongError(stated, max_duration)
        limit = max_duration + DURATION_SLACK
        plan = dataclasses.replace(plan, length=min(plan.length or limit, limit))
    tags = {key: media.tags[key] for key in DESCRIPTIVE_TAGS if media.tags.get(key)}
    tags["title"] = options.title or tags.get("title") or fallback_title or Path(src).stem
    for key in ("artist", "album"):
        if getattr(options, key):
            tags[key] = getattr(options, key)
    # ffmpeg creates the temp file itself, so it gets the usual permissions (mkstemp's are 0600);
    # the random part keeps concurrent conversions to the same name apart; the cut keeps the
    # name within the file system's limit.
    tmp_name = str(dst.with_name(f".{dst.name[:120]}.{secrets.token_hex(8)}.part"))
    picture = tmp_name[: -len(".part")] + ".cover.jpg"
    frames = Path(tmp_name[: -len(".part")] + ".frames")

    def encode(plan: _Plan):
        progress = _Progress(plan.expected_duration, on_progress, max_duration, media.duration)
        command = _command(src, tmp_name, plan, options, tags, frames, waveform_pcm)
        outcome = run_ffmpeg(
            command, deadline=deadline, cancel=cancel, on_stdout_line=progress.feed
        )
        return outcome, progress

    try:
        if plan.cover == "image":
            cover_jpeg(cover_image, picture)
        elif plan.cover == "keyframes":
            frames.mkdir()
        outcome, progress = encode(plan)
        if outcome.returncode > 0 and plan.cover == "keyframes":
            # The audio must not fail for a picture: ffmpeg may be unable to decode the video.
            log.warning("converting %s again, its still apart: %s", src, outcome.stderr[-500:])
            plan = dataclasses.replace(plan, cover="still")
            outcome, progress = encode(plan)
        if outcome.returncode != 0:
            raise classify_failure(outcome.returncode, outcome.stderr)
        if not progress.out_time:
            # ffmpeg can succeed without a single decodable audio frame; that is no MP3.
            raise NotMediaError(UNDECODABLE_REASON, detail=outcome.stderr[-2000:])
        cover = _cover_picture(plan, src, picture, frames, media)
        if cover is not None:
            add_cover(tmp_name, cover)
        size = os.stat(tmp_name).st_size
        os.replace(tmp_name, dst)
    finally:
        for leftover in (tmp_name, picture):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)
        shutil.rmtree(frames, ignore_errors=True)
    # A copied stream's timestamps include the source's start offset; trust the container then.
    if plan.copy:
        duration = plan.expected_duration or progress.out_time or 0.0
    else:
        duration = progress.out_time or plan.expected_duration or 0.0
    if on_progress is not None:
        on_progress(100.0)
    return ConversionResult(
        duration=duration,
        bitrate=plan.bitrate or (round(size * 8 / duration / 1000) if duration else None),
        sample_rate=plan.sample_rate,
        channels=plan.channels,
        size=size,
        copied_stream=plan.copy,
        media=media,
    )


def _audio_past(
    src, stream: AudioStream, seconds: float, deadline: float | None, cancel: CancelCheck | None
) -> bool:
    """Tell whether ``stream`` has audio after ``seconds``: seek there, decode what follows."""
    progress = _Progress(None, None, None, None)
    args = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-nostats"]
    args += ["-progress", "pipe:1", "-ss", f"{seconds:.6f}", *input_args(src)]
    args += ["-map", f"0:a:{stream.index}", "-t", "1", "-f", "null", "-"]
    outcome = run_ffmpeg(args, deadline=deadline, cancel=cancel, on_stdout_line=progress.feed)
    return outcome.returncode == 0 and bool(progress.out_time)


def _cover_picture(
    plan: _Plan, src, picture: str, frames: Path, media: MediaInfo
) -> str | Path | None:
    """Return the JPEG to add to the encoded MP3 (``picture`` or a keyframe), or None."""
    if plan.cover == "image":
        return picture
    if plan.cover == "keyframes":
        chosen = keyframes.pick(frames, plan.expected_duration)
        if chosen is not None:
            return chosen
    if plan.cover not in ("keyframes", "still"):
        return None
    try:
        # After blank keyframes, only exact frames can do better (a clip that starts black).
        found = video_still(src, picture, media.duration, media.rotation, plan.cover == "still")
    except Exception:
        # A picture is a nicety: a video moviepy cannot read still converts, without one.
        log.warning("no cover picture: reading a frame of %s failed", src, exc_info=True)
        return None
    return picture if found else None


def _cover_mode(media: MediaInfo, options: ConversionOptions, has_image: bool, cut: bool) -> str:
    if options.cover == "none" or not (media.has_video or has_image):
        return "none"
    if options.cover == "image" and has_image:
        return "image"
    if media.cover_art:
        return "own"
    if cut or media.duration is None or media.duration > keyframes.SHORT_MEDIA_SECONDS:
        return "still"
    return "keyframes"


def _plan(media: MediaInfo, options: ConversionOptions, has_image: bool = False) -> _Plan:
    """Decide what ffmpeg has to do for ``media`` under ``options``."""
    stream = _choose_stream(media, options.audio_track)
    duration = media.duration
    start = options.start or None
    if start is not None and duration is not None and start >= duration:
        raise InvalidOptionsError("start", f"is past the end of the media ({duration:.1f} s)")
    end = options.end
    if end is not None and duration is not None:
        end = min(end, duration)
    length = None if end is None else end - (start or 0.0)
    if length is not None:
        expected = length
    elif duration is not None:
        expected = duration - (start or 0.0)
    else:
        expected = None
    cover = _cover_mode(media, options, has_image, cut=start is not None or end is not None)

    copy = (
        stream.codec == "mp3"
        and not options.changes_audio
        and stream.sample_rate in MP3_SAMPLE_RATES
        and (stream.channels or 0) in (1, 2)
    )
    if copy:
        # Only without trims or audio changes (`changes_audio`), so start and length are None.
        sample_rate, channels, bitrate = stream.sample_rate, stream.channels, None
    else:
        sample_rate = options.sample_rate or nearest_sample_rate(stream.sample_rate or 44100)
        channels = options.channels
        bitrate = options.effective_bitrate
        if bitrate is not None:
            # The source decides the rate when none was asked for; keep the bitrate legal for it.
            bitrate = min(bitrate, max_bitrate(sample_rate))
    return _Plan(
        stream=stream,
        copy=copy,
        sample_rate=sample_rate,
        channels=channels,
        bitrate=bitrate,
        start=start,
        length=length,
        expected_duration=expected,
        cover=cover,
    )


def _choose_stream(media: MediaInfo, track: int | None) -> AudioStream:
    if not media.audio_streams:
        raise NoAudioStreamError()
    if track is None:
        return media.default_audio
    if track >= len(media.audio_streams):
        count = len(media.audio_streams)
        raise InvalidOptionsError(
            "audio_track",
            f"the file has {count} audio track{'s' if count > 1 else ''} (0 to {count - 1})",
        )
    return media.audio_streams[track]


def _command(
    src: str | os.PathLike[str],
    tmp: str,
    plan: _Plan,
    options: ConversionOptions,
    tags: dict[str, str],
    frames: Path,
    waveform_pcm: str | os.PathLike[str] | None = None,
) -> list[str]:
    """Build the one ffmpeg command line of a conversion.

    With ``waveform_pcm`` the command has a second output, the same audio stream and cut as PCM;
    with the "keyframes" cover one more, the candidate stills written into ``frames``.
    """
    args = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-nostats"]
    args += ["-progress", "pipe:1"]
    if plan.start is not None:
        # As an input option -ss seeks, then decodes accurately from the preceding keyframe.
        args += ["-ss", f"{plan.start:.6f}"]
    if plan.cover == "keyframes":
        args += keyframes.input_args()
    args += input_args(src)
    args += ["-map", f"0:a:{plan.stream.index}"]
    if plan.length is not None:
        args += ["-t", f"{plan.length:.6f}"]
    if plan.copy:
        args += ["-c:a", "copy"]
    else:
        args += ["-c:a", "libmp3lame"]
        if plan.bitrate is not None:
            args += ["-b:a", f"{plan.bitrate}k"]
        else:
            args += ["-q:a", str(options.vbr_quality)]
        if options.normalize:
            args += ["-af", LOUDNORM_FILTER]
        args += ["-ar", str(plan.sample_rate), "-ac", str(plan.channels)]
    if plan.cover == "own":
        # The source's own picture becomes the ID3 APIC picture. trim (not -frames:v, which would
        # end the whole output with that frame) closes the video branch after one frame.
        args += ["-map", "0:v:0", "-c:v", "mjpeg", "-disposition:v:0", "attached_pic"]
        args += ["-filter:v", f"trim=end_frame=1,scale='min(iw,{COVER_WIDTH})':-1"]
    else:
        args += ["-vn"]
    # Tags are written from the probe rather than copied with -map_metadata: that also picks up
    # stream-level tags (Ogg) and leaves container bookkeeping out of the ID3 frames.
    args += ["-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1"]
    for key, value in tags.items():
        args += ["-metadata", f"{key}={value}"]
    args += ["-id3v2_version", "3", "-write_xing", "1", "-f", "mp3", "-y", output_arg(tmp)]
    if waveform_pcm is not None:
        args += ["-map", f"0:a:{plan.stream.index}"]
        if plan.length is not None:
            args += ["-t", f"{plan.length:.6f}"]
        args += pcm_output_args(waveform_pcm)
    if plan.cover == "keyframes":
        args += keyframes.output_args(frames, plan.expected_duration)
    return args


class _Progress:
    """Turn ffmpeg's ``-progress`` lines into throttled percentages."""

    def __init__(
        self,
        expected: float | None,
        on_progress: ProgressCallback | None,
        max_duration: float | None,
        stated_duration: float | None,
    ) -> None:
        self._expected = expected
        self._on_progress = on_progress
        self._max_duration = max_duration
        self._stated_duration = stated_duration
        self._last_report = float("-inf")
        self.out_time: float | None = None

    def feed(self, line: str) -> None:
        key, _, value = line.partition("=")
        if key != "out_time_us" or not value.lstrip("-").isdigit():
            return
        self.out_time = max(0.0, int(value) / 1e6)
        limit = self._max_duration
        if limit is not None and self.out_time > limit + DURATION_SLACK / 2:
            # Decoded past the limit: the container's stated duration, if longer, was true.
            stated = self._stated_duration
            raise TooLongError(stated if stated and stated > limit else None, limit)
        now = time.monotonic()
        if self._on_progress is None or not self._expected:
            return
        if now - self._last_report >= PROGRESS_INTERVAL:
            self._last_report = now
            self._on_progress(min(100.0, 100.0 * self.out_time / self._expected))


def classify_failure(returncode: int, stderr: str) -> ConversionError:
    """Map a failed ffmpeg run (exit status and stderr tail) onto a typed error."""
    detail = stderr[-2000:]
    lowered = stderr.lower()
    if "no space left on device" in lowered or "disk quota exceeded" in lowered:
        return OutOfDiskError(detail=detail)
    if returncode < 0 or "received signal" in lowered:
        return ConversionKilled(detail=detail)
    if any(
        marker in lowered
        for marker in ("invalid data found", "error while decoding", "decoding error", "corrupt")
    ):
        return NotMediaError(UNDECODABLE_REASON, detail)
    return ConversionError("The conversion failed.", permanent=False, detail=detail)
