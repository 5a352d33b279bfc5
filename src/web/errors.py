"""Turn every error into an RFC 9457 problem+json response; no stack trace reaches a client."""

from __future__ import annotations

import logging
import uuid

import falcon
from sqlalchemy.exc import DBAPIError, OperationalError

from core.db import is_schema_error
from core.storage import StorageError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


def serialize_problem(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError):
    """Write `error` as problem+json (Falcon's error serializer hook)."""
    body = {
        "type": "about:blank",
        "title": error.title,
        "status": error.status_code,
        "detail": error.description or error.title,
    }
    body.update(getattr(error, "extra", None) or {})
    resp.content_type = PROBLEM_JSON
    resp.media = body
    resp.append_header("Vary", "Accept")


class Problem(falcon.HTTPError):
    """An HTTP error with a precise detail and optional extra members in its body."""

    def __init__(self, status, detail: str, *, headers=None, **extra) -> None:
        super().__init__(status, description=detail, headers=headers)
        self.extra = extra


def unauthorized(detail: str) -> Problem:
    """Return a 401 that tells the client how to authenticate."""
    return Problem(falcon.HTTP_401, detail, headers={"WWW-Authenticate": 'Bearer realm="vid2mp3"'})


def not_found(what: str = "resource") -> Problem:
    """Return a 404; another user's job is reported exactly like a missing one."""
    return Problem(falcon.HTTP_404, f"no such {what}")


def service_unavailable(detail: str, retry_after: int = 5) -> Problem:
    """Return a 503 with Retry-After for a backing service that is down."""
    return Problem(falcon.HTTP_503, detail, headers={"Retry-After": str(retry_after)})


def _handle_storage_error(req, resp, error, params):
    log.warning("storage unavailable: %s", error)
    raise service_unavailable("the file store is unavailable, try again shortly")


def _handle_database_error(req, resp, error, params):
    if is_schema_error(error):
        log.error("the database has no schema or an old one: run `vid2mp3 migrate`")
        raise service_unavailable("the service is not set up yet, try again later", 30)
    if isinstance(error, OperationalError) or error.connection_invalidated:
        log.warning("database unavailable: %s", type(error.orig).__name__)
        raise service_unavailable("the database is unavailable, try again shortly")
    _handle_unexpected(req, resp, error, params)


def _handle_unexpected(req, resp, error, params):
    if isinstance(error, falcon.HTTPError):
        raise error
    error_id = uuid.uuid4().hex[:12]
    log.exception("unhandled error %s on %s %s", error_id, req.method, req.path)
    raise Problem(
        falcon.HTTP_500,
        f"an unexpected error occurred; quote error id {error_id} when reporting it",
        error_id=error_id,
    )


def install(app: falcon.App) -> None:
    """Register the serializer and handlers on `app`; Falcon picks the most specific one."""
    app.resp_options.media_handlers[PROBLEM_JSON] = falcon.media.JSONHandler()
    app.set_error_serializer(serialize_problem)
    app.add_error_handler(Exception, _handle_unexpected)
    app.add_error_handler(DBAPIError, _handle_database_error)
    app.add_error_handler(StorageError, _handle_storage_error)
