"""Liveness and readiness probes: readiness names each backing service that is down."""

from __future__ import annotations

import logging
from collections.abc import Callable

import falcon

from core.db import SchemaNotCurrent

log = logging.getLogger(__name__)


class LivenessResource:
    """`GET /healthz`: the process answers."""

    auth_required = False

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


class ReadinessResource:
    """`GET /readyz`: 200 when every check passes, else 503 naming what is down."""

    auth_required = False

    def __init__(self, checks: dict[str, Callable[[], None]]) -> None:
        self._checks = checks

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        results, reasons = {}, []
        for name, check in self._checks.items():
            try:
                check()
                results[name] = "ok"
            except SchemaNotCurrent as error:
                log.warning("readiness: %s", error)
                results[name] = "schema not current"
                reasons.append(str(error))
            except Exception as error:
                log.warning("readiness: %s is down: %s", name, type(error).__name__)
                results[name] = "down"
                reasons.append(f"{name} unavailable")
        if reasons:
            resp.status = falcon.HTTP_503
            resp.set_header("Retry-After", "5")
            resp.content_type = "application/problem+json"
            resp.media = {
                "type": "about:blank",
                "title": "Service Unavailable",
                "status": 503,
                "detail": f"not ready: {'; '.join(reasons)}",
                "checks": results,
            }
            return
        resp.media = {"status": "ready", "checks": results}
