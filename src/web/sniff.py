"""Recognise media containers from a file's first bytes, to refuse obvious non-media uploads.

This is a cheap gate, not a decoder: a file that passes may still fail conversion, and the
pipeline then marks its job failed with ffmpeg's reason.
"""

from __future__ import annotations

SNIFF_BYTES = 4096

_PREFIXES = {
    b"\x1a\x45\xdf\xa3": "matroska/webm",
    b"OggS": "ogg",
    b"fLaC": "flac",
    b"ID3": "mp3",
    b"FLV": "flv",
    b"\x30\x26\xb2\x75\x8e\x66\xcf\x11": "asf",
    b"\x00\x00\x01\xba": "mpeg-ps",
    b"\x00\x00\x01\xb3": "mpeg-video",
    b"#!AMR": "amr",
    b".RMF": "realmedia",
    b"caff": "caf",
    b"FORM": "aiff",
    b"MAC ": "ape",
    b"wvpk": "wavpack",
    b"\x2e\x73\x6e\x64": "au",
}
_RIFF_KINDS = {b"AVI ": "avi", b"WAVE": "wav", b"AVIX": "avi"}
_ISO_BOX_TYPES = {b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"}


def sniff_container(head: bytes) -> str | None:
    """Return a container name for `head` (a file's first bytes), or None if unrecognised."""
    for prefix, name in _PREFIXES.items():
        if head.startswith(prefix):
            return name
    if head[:4] == b"RIFF" and head[8:12] in _RIFF_KINDS:
        return _RIFF_KINDS[head[8:12]]
    if head[4:8] in _ISO_BOX_TYPES:
        return "mp4/mov"
    if _is_mpeg_ts(head):
        return "mpeg-ts"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "mpeg-audio/aac"
    return None


def _is_mpeg_ts(head: bytes) -> bool:
    # Transport streams repeat a 0x47 sync byte every 188 bytes.
    packets = [head[i] for i in range(0, min(len(head), 188 * 4), 188)]
    return len(packets) >= 2 and all(byte == 0x47 for byte in packets)
