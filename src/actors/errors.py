"""Name how a step ends badly: `StepFailed` for good, the reason a user reads, a service away."""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.middleware import TimeLimitExceeded
from dramatiq.middleware.shutdown import Shutdown
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from conversion import ConversionError
from core.mail import NotifyError
from core.storage import StorageError

# A backing service that is away: worth one log line naming it, never a traceback.
SERVICE_AWAY = (OperationalError, StorageError, NotifyError, dramatiq.errors.ConnectionError)


class StepFailed(Exception):
    """The step failed for good: the job fails with `reason` (and `values` written with it)."""

    def __init__(self, reason: str, **values: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.values = values


def describe_error(error: BaseException) -> str:
    """Return a reason a user can read for `error` (never a path, URL or traceback)."""
    if isinstance(error, (ConversionError, StepFailed)):
        return error.reason
    if isinstance(error, NotifyError):
        return f"Notification failed: {error}."
    if isinstance(error, StorageError):
        return "The file store was unavailable."
    if isinstance(error, SQLAlchemyError):
        return "The database was unavailable."
    if isinstance(error, dramatiq.errors.ConnectionError):
        return "The message broker was unavailable."
    if isinstance(error, TimeLimitExceeded):
        return "The step took too long and was stopped."
    if isinstance(error, Shutdown):
        return "The worker was stopped during the step."
    if isinstance(error, dramatiq.Retry):
        return "Another worker was still holding the job."
    return "An unexpected error occurred."
