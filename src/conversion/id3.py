"""Put a cover picture into a finished MP3: an ID3v2.3 APIC frame added to the tag ffmpeg wrote.

The conversion's ffmpeg run writes the MP3 with an ID3v2.3 tag (``-id3v2_version 3``: no
extended header, no unsynchronisation) before the picture is known: the still is chosen from
frames of that same run. :func:`add_cover` then writes the APIC frame (front cover, JPEG) first
in that tag and copies the rest of the file behind it. The audio frames, and the Xing header that
counts them, are copied unchanged.
"""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

_HEADER = b"ID3\x03\x00\x00"  # ID3v2.3, no flags; the tag's size (syncsafe) follows
_FRONT_COVER = 3
_COPY_CHUNK = 1 << 20


def add_cover(mp3: str | os.PathLike[str], jpeg: str | os.PathLike[str]) -> None:
    """Make ``jpeg`` the front cover of ``mp3`` (rewritten in place, atomically)."""
    body = b"\x00image/jpeg\x00" + bytes([_FRONT_COVER]) + b"\x00" + Path(jpeg).read_bytes()
    frame = b"APIC" + struct.pack(">I", len(body)) + b"\x00\x00" + body
    rewritten = f"{os.fspath(mp3)}.cover"
    try:
        with open(mp3, "rb") as src, open(rewritten, "wb") as dst:
            header = src.read(10)
            if len(header) == 10 and header[:6] == _HEADER:
                tag_size = _unsyncsafe(header[6:])
            else:  # no tag of ours: the picture gets a tag of its own
                src.seek(0)
                tag_size = 0
            dst.write(_HEADER + _syncsafe(tag_size + len(frame)) + frame)
            shutil.copyfileobj(src, dst, _COPY_CHUNK)
        shutil.copymode(mp3, rewritten)
        os.replace(rewritten, mp3)
    except BaseException:
        Path(rewritten).unlink(missing_ok=True)
        raise


def _syncsafe(size: int) -> bytes:
    if size >= 1 << 28:
        raise ValueError("an ID3v2 tag holds at most 256 MB")
    return bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))


def _unsyncsafe(raw: bytes) -> int:
    return (raw[0] << 21) | (raw[1] << 14) | (raw[2] << 7) | raw[3]
