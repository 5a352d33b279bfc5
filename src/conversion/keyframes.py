"""Candidate cover stills from the conversion's own ffmpeg run: a few keyframes, as JPEG files.

For short media (:data:`SHORT_MEDIA_SECONDS` at most) the conversion's ffmpeg command gets one
more output (:func:`output_args`): its video decoder sees keyframes only (the demuxer drops the
other packets, :func:`input_args`), a filter keeps at most one keyframe per twentieth of the
duration up to the last candidate moment and then closes the branch, and each kept frame is
written as ``<milliseconds>.jpg``, upright and at most :data:`~conversion.cover.COVER_WIDTH`
wide. On a 10 s clip that costs a few milliseconds of CPU, where a separate still (an ffmpeg cut,
then moviepy's reader: three processes) cost about 90.

:func:`pick` then applies the rule of :func:`conversion.cover.video_still`'s first round: for
each candidate moment, the last keyframe at or before it, the first that is not blank.
"""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from .cover import COVER_WIDTH, candidate_times, is_blank, small_copy
from .ffmpeg import output_arg

# Longer media get their still from conversion.cover.video_still, which seeks to each moment:
# its ~0.13 s are a small share of a long conversion, while decoding every keyframe up to the
# last candidate moment grows with the duration.
SHORT_MEDIA_SECONDS = 120.0
# At most one keyframe per this share of the duration reaches the JPEG encoder.
SPACING = 0.05


def input_args() -> list[str]:
    """Return the input options (before ``-i``) that keep the video decoder to keyframes."""
    return ["-discard:v", "nokey", "-skip_frame:v", "nokey", "-threads:v", "1"]


def output_args(folder: str | os.PathLike[str], duration: float) -> list[str]:
    """Return the output that writes candidate keyframes of input 0 into ``folder``."""
    # The first keyframe counts as one at 0 s: an encoder that gets no frame fails the command.
    first = "setpts='if(eq(N\\,0)\\,0\\,PTS)'"
    end = max(candidate_times(duration)) + 0.001
    thin = f"isnan(prev_selected_t)+gte(t-prev_selected_t\\,{SPACING * duration:.3f})"
    # ffmpeg's progress clock (the MP3's duration) is the furthest timestamp of any output, so
    # these frames leave with their times divided by 1000, and are named in microseconds: the
    # original time in milliseconds.
    scale = f"scale='min(iw,{COVER_WIDTH})':-1"
    frames = f"{first},trim=end={end:.3f},select='{thin}',{scale},settb=1/1000000,setpts=PTS/1000"
    return [
        "-map", "0:v:0", "-an", "-sn", "-dn", "-filter:v", frames,
        "-c:v", "mjpeg", "-q:v", "3",
        "-fps_mode", "passthrough", "-enc_time_base:v", "1/1000000", "-frame_pts", "1",
        "-f", "image2", "-y", output_arg(Path(folder) / "%d.jpg"),
    ]  # fmt: skip


def pick(folder: str | os.PathLike[str], duration: float) -> Path | None:
    """Return the first non-blank candidate keyframe written into ``folder``; None if none is."""
    frames = sorted((int(path.stem), path) for path in Path(folder).glob("*.jpg"))
    tried: set[Path] = set()
    for moment in candidate_times(duration):
        before = [path for millis, path in frames if millis <= moment * 1000]
        if not before or before[-1] in tried:
            continue
        tried.add(before[-1])
        with Image.open(before[-1]) as picture:
            picture.draft("L", (160, 160))  # JPEG decodes at a fraction of the size: enough here
            if not is_blank(small_copy(picture)):
                return before[-1]
    return None
