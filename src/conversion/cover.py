"""Make the MP3's cover picture: a representative still of a video, or a user's image, as JPEG.

:func:`video_still` looks at a few candidate moments, about 10% into the video first, and keeps
the first frame that is neither (nearly) black nor (nearly) uniform, such as a fade-in or a plain
title card. :func:`cover_jpeg` turns any image Pillow can read into the same kind of JPEG. Both
scale down to :data:`COVER_WIDTH` pixels wide. A short uncut video's still comes from the
conversion's own keyframes instead (:mod:`conversion.keyframes`); :func:`video_still` serves
longer or cut videos, and short ones whose keyframes are all blank.

Cost: moviepy's ``get_frame(t)`` seeks the way ffmpeg does, decoding every frame from the
keyframe before ``t``, which on a 720p H.264 video with 10-second keyframe intervals costs about
20% of the whole MP3 conversion. So ffmpeg first copies (no decoding) the one keyframe at or
before each moment into a tiny Matroska file, through :func:`conversion.ffmpeg.input_args` like
every other read of an upload, and moviepy's frame reader decodes that single frame. Only when
every such keyframe is blank are exact frames cut (ffmpeg decodes up to the moment). moviepy
therefore only ever opens a file we wrote.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable

from PIL import Image, ImageStat, UnidentifiedImageError

from .errors import InvalidOptionsError
from .ffmpeg import ffmpeg_exe, input_args, output_arg
from .process import run_ffmpeg

COVER_WIDTH = 600
JPEG_QUALITY = 85
# Where to look, as shares of the duration: ~10% in skips intros and fade-ins; later ones are
# tried only when a candidate is blank.
CANDIDATES = (0.10, 0.25, 0.40, 0.60)
# A frame darker than this mean luma (0-255) is black; one with less spread than this is flat.
MIN_MEAN_LUMA = 24.0
MIN_LUMA_STDDEV = 10.0
# Pictures larger than this many pixels are refused before decoding (decompression bombs).
MAX_IMAGE_PIXELS = 40_000_000
# When the container states no duration, candidates are spread as if it lasted this long.
ASSUMED_DURATION = 60.0
# Copying one packet takes milliseconds; this only stops a stuck ffmpeg.
CUT_TIMEOUT = 30.0


def candidate_times(duration: float) -> Iterable[float]:
    """Yield the moments (seconds) to try, in order."""
    for share in CANDIDATES:
        yield share * duration


def is_blank(picture: Image.Image) -> bool:
    """Tell whether a picture is (nearly) black or (nearly) one flat colour."""
    stat = ImageStat.Stat(picture.convert("L"))
    return stat.mean[0] < MIN_MEAN_LUMA or stat.stddev[0] < MIN_LUMA_STDDEV


def _save(picture: Image.Image, dst: str | os.PathLike[str]) -> None:
    picture = picture.convert("RGB")
    if picture.width > COVER_WIDTH:
        height = max(1, round(picture.height * COVER_WIDTH / picture.width))
        picture = picture.resize((COVER_WIDTH, height), Image.Resampling.LANCZOS)
    picture.save(dst, "JPEG", quality=JPEG_QUALITY, optimize=True)


def video_still(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    duration: float | None = None,
    rotation: float = 0.0,
    keyframes: bool = True,
) -> bool:
    """Write a JPEG of a representative frame of ``src`` to ``dst``; False if all were blank.

    ``rotation`` is the video's display rotation (:attr:`MediaInfo.rotation`). ``keyframes=False``
    skips the first round, for a caller that has already found every keyframe blank.
    """
    snippet = f"{dst}.frame.mkv"
    moments = list(candidate_times(duration or ASSUMED_DURATION))
    try:
        # Keyframes first (cheap); exact frames only when every keyframe was blank, as in a short
        # clip whose only keyframe is its black first frame.
        for exact in (False, True) if keyframes else (True,):
            for moment in moments:
                picture = _frame_at(src, moment, snippet, exact, rotation)
                if picture is not None and not is_blank(small_copy(picture)):
                    _save(picture, dst)
                    return True
        return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(snippet)


def small_copy(picture: Image.Image) -> Image.Image:
    # Judging a small copy gives the same verdict for a fraction of the cost.
    small = picture.copy()
    small.thumbnail((160, 160))
    return small


def _frame_at(src, moment: float, snippet: str, exact: bool, rotation: float) -> Image.Image | None:
    """Return the frame at ``moment`` (else the keyframe before it); None when there is none."""
    # Imported here: moviepy brings numpy, and the web app imports this package for its options.
    from moviepy import VideoFileClip

    # Copying the keyframe decodes nothing; the exact frame costs decoding from that keyframe.
    # The snippet leaves a phone video's rotation out (-display_rotation 0): moviepy 2.2 cannot
    # read it from ffmpeg 9's header dump and would take ffmpeg's turned frame for an upright
    # one. The picture is turned here instead.
    codec = "ffv1" if exact else "copy"
    command = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error"]
    command += ["-ss", f"{moment:.3f}", "-display_rotation", "0", *input_args(src)]
    command += ["-map", "0:v:0", "-c:v", codec]
    command += ["-frames:v", "1", "-an", "-sn", "-dn", "-f", "matroska", "-y"]
    command += [output_arg(snippet)]
    if run_ffmpeg(command, deadline=time.monotonic() + CUT_TIMEOUT).returncode != 0:
        return None
    try:
        clip = VideoFileClip(os.path.abspath(snippet), audio=False)
    except OSError:
        return None  # nothing was cut: the moment lies past the end of the video
    try:
        frame = clip.get_frame(0)
    finally:
        clip.close()
    if frame is None:
        return None
    picture = Image.fromarray(frame)
    return picture.rotate(rotation, expand=True) if rotation else picture


def cover_jpeg(image: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Write a user's picture (any format Pillow reads) to ``dst`` as a cover JPEG.

    Raise :class:`InvalidOptionsError` (field ``cover``) when it is not a readable image.
    """
    try:
        with Image.open(image) as picture:
            if picture.width * picture.height > MAX_IMAGE_PIXELS:
                raise InvalidOptionsError("cover", "the image has too many pixels")
            picture.load()
            _save(picture, dst)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError):
        raise InvalidOptionsError("cover", "the cover is not an image that can be read") from None
