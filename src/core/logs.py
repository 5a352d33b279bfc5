"""Set up logging from settings: plain text on a laptop, one JSON object per line in production."""

from __future__ import annotations

import datetime as dt
import json
import logging

from core.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """Write time, level, logger, message and any `extra` fields such as job_id."""

    _STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in self._STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(settings: Settings, *, keep_handlers: bool = False) -> None:
    """Apply LOG_LEVEL and LOG_FORMAT to the root logger.

    `keep_handlers`: reuse the handlers a host program installed (Dramatiq's CLI does), changing
    their format only for JSON; otherwise log to stderr through one handler of our own.
    """
    root = logging.getLogger()
    if not keep_handlers or not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
        root.handlers[:] = [handler]
    if settings.log_format == "json":
        for handler in root.handlers:
            handler.setFormatter(JsonFormatter())
    root.setLevel(settings.log_level)
    # pika logs every failed connection attempt with a traceback; its callers (Dramatiq, the
    # upload, the dispatcher) already say in one line what failed. Shown at DEBUG.
    logging.getLogger("pika").setLevel(
        logging.DEBUG if settings.log_level == "DEBUG" else logging.CRITICAL
    )
