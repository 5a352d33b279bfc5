"""The media engine: probe files and convert them to MP3 with ffmpeg.

Pure functions over files; nothing here knows about HTTP, queues or databases.
"""

from .convert import ConversionResult, classify_failure, deadline_for, to_mp3
from .errors import (
    Cancelled,
    ConversionError,
    ConversionKilled,
    DeadlineExceeded,
    InvalidOptionsError,
    NoAudioStreamError,
    NotMediaError,
    OutOfDiskError,
    TooLongError,
)
from .options import MP3_BITRATES, MP3_SAMPLE_RATES, ConversionOptions
from .probe import AudioStream, MediaInfo, probe

__all__ = [
    "MP3_BITRATES",
    "MP3_SAMPLE_RATES",
    "AudioStream",
    "Cancelled",
    "ConversionError",
    "ConversionKilled",
    "ConversionOptions",
    "ConversionResult",
    "DeadlineExceeded",
    "InvalidOptionsError",
    "MediaInfo",
    "NoAudioStreamError",
    "NotMediaError",
    "OutOfDiskError",
    "TooLongError",
    "classify_failure",
    "deadline_for",
    "probe",
    "to_mp3",
]
