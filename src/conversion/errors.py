"""Typed failures of the media engine.

Every error carries a ``reason`` a user can read (no paths, no tracebacks) and a ``permanent``
flag: permanent failures are properties of the input or the options and must not be retried;
transient ones (killed, out of disk) may succeed on a later attempt.
"""

from __future__ import annotations


class ConversionError(Exception):
    """Signal that a file could not be probed or converted.

    ``detail`` may carry ffmpeg's last words for operators' logs; it can name paths, so it is
    never shown to users.
    """

    def __init__(self, reason: str, permanent: bool, detail: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.detail = detail


class NotMediaError(ConversionError):
    """Signal that the input is not a readable audio/video file."""

    def __init__(
        self,
        reason: str = "The file is not a media file, or it is damaged.",
        detail: str | None = None,
    ) -> None:
        super().__init__(reason, permanent=True, detail=detail)


class NoAudioStreamError(ConversionError):
    """Signal that the input has no audio stream to convert."""

    def __init__(self, reason: str = "The file has no audio track.") -> None:
        super().__init__(reason, permanent=True)


class TooLongError(ConversionError):
    """Signal that the input is longer than the allowed maximum (``duration``: None if unknown)."""

    def __init__(self, duration: float | None, max_duration: float) -> None:
        lasts = "The media lasts" + (f" {_hms(duration)}," if duration is not None else "")
        super().__init__(
            f"{lasts} longer than the allowed {_hms(max_duration)}.",
            permanent=True,
        )
        self.duration = duration
        self.max_duration = max_duration


class InvalidOptionsError(ConversionError, ValueError):
    """Signal that a conversion option is invalid; ``field`` names the offending option."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", permanent=True)
        self.field = field
        self.message = message


class ConversionKilled(ConversionError):
    """Signal that ffmpeg was stopped before it finished (killed, cancelled or timed out)."""

    def __init__(
        self,
        reason: str = "The conversion was stopped before it finished.",
        detail: str | None = None,
    ) -> None:
        super().__init__(reason, permanent=False, detail=detail)


class DeadlineExceeded(ConversionKilled):
    """Signal that the conversion ran past its deadline and was stopped."""

    def __init__(self, reason: str = "The conversion took too long and was stopped.") -> None:
        super().__init__(reason)


class Cancelled(ConversionKilled):
    """Signal that the conversion was cancelled on request."""

    def __init__(self, reason: str = "The conversion was cancelled.") -> None:
        super().__init__(reason)


class OutOfDiskError(ConversionError):
    """Signal that the output could not be written because the disk is full."""

    def __init__(
        self,
        reason: str = "The server ran out of disk space while converting.",
        detail: str | None = None,
    ) -> None:
        super().__init__(reason, permanent=False, detail=detail)


def _hms(seconds: float) -> str:
    """Format seconds as H:MM:SS for user-facing messages."""
    total = round(seconds)
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"
