"""Locate the ffmpeg binary and build the arguments that open files safely.

Every ffmpeg invocation of the engine goes through :func:`input_args` and :func:`output_arg`, so
hostile file names and hostile files get the same treatment everywhere: paths are passed with the
``file:`` protocol prefix (a name such as ``pipe:1`` or ``http://…`` stays a file name), only the
``file`` protocol may be opened, and only demuxers for ordinary audio/video containers may be used
(playlist formats such as HLS or concat could otherwise make ffmpeg read other local files or URLs).
"""

from __future__ import annotations

import functools
import os

import imageio_ffmpeg

# Demuxers of real audio/video containers. Anything else (playlists, images, subtitles, raw
# streams) is refused as "not a media file" before it can open further inputs.
DEMUXERS = (
    "mov",
    "matroska",
    "webm",
    "avi",
    "flv",
    "live_flv",
    "asf",
    "mpeg",
    "mpegts",
    "ogg",
    "wav",
    "w64",
    "flac",
    "mp3",
    "aac",
    "loas",
    "ac3",
    "eac3",
    "dts",
    "dtshd",
    "truehd",
    "mlp",
    "amr",
    "amrnb",
    "amrwb",
    "aiff",
    "caf",
    "au",
    "ape",
    "tta",
    "tak",
    "wv",
    "mpc",
    "mpc8",
    "oma",
    "dsf",
    "rm",
    "nut",
    "mxf",
    "gxf",
    "dv",
    "nsv",
    "nuv",
    "wtv",
    "xwma",
    "voc",
    "ivf",
    "smjpeg",
)


@functools.cache
def ffmpeg_exe() -> str:
    """Return the path of the ffmpeg binary (``IMAGEIO_FFMPEG_EXE`` overrides the bundled one)."""
    return imageio_ffmpeg.get_ffmpeg_exe()


def input_args(path: str | os.PathLike[str]) -> list[str]:
    """Return the ffmpeg arguments that open ``path`` as the (only) input, restricted to files."""
    return [
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        ",".join(DEMUXERS),
        "-i",
        "file:" + os.path.abspath(path),
    ]


def output_arg(path: str | os.PathLike[str]) -> str:
    """Return the ffmpeg argument naming ``path`` as an output file, whatever its name."""
    return "file:" + os.path.abspath(path)
