"""Liveness and readiness probes: readiness names each backing service that is down."""

from __future__ import annotations

import logging
from collections.abc import Callable

import falcon

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
        results = {}
        for name, check in self._checks.items():
            try:
                check()
                results[name] = "ok"
            except Exception as error:
                log.warning("readiness: %s is down: %s", name, type(error).__name__)
                results[name] = "down"
        down = [name for name, state in results.items() if state != "ok"]
        if down:
            resp.status = falcon.HTTP_503
            resp.set_header("Retry-After", "5")
            resp.content_type = "application/problem+json"
            resp.media = {
                "type": "about:blank",
                "title": "Service Unavailable",
                "status": 503,
                "detail": f"not ready: {', '.join(down)} unavailable",
                "checks": results,
            }
            return
        resp.media = {"status": "ready", "checks": results}
