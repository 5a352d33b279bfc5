"""The signed-in pages: the jobs list, the upload page and one job's page."""

from __future__ import annotations

import falcon

from core.db import session_scope
from core.settings import Settings
from web.errors import Problem
from web.resources.jobs import visible_job
from web.ui.render import Renderer, human_size
from web.ui.viewer import Viewer


class JobsPage:
    """`GET /`: the user's jobs, newest first; the list itself is kept live by jobs.js."""

    auth_required = False

    def __init__(self, viewer: Viewer, renderer: Renderer) -> None:
        self._viewer = viewer
        self._renderer = renderer

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        principal = self._viewer.require(req)
        self._renderer.page(resp, "jobs.html", **self._viewer.context(principal, "jobs"))


class ConvertPage:
    """`GET /convert`: choose or drop videos, set the options, watch each upload."""

    auth_required = False

    def __init__(self, settings: Settings, viewer: Viewer, renderer: Renderer) -> None:
        self._settings = settings
        self._viewer = viewer
        self._renderer = renderer

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        principal = self._viewer.require(req)
        self._renderer.page(
            resp,
            "convert.html",
            max_upload=human_size(self._settings.max_upload_bytes),
            **self._viewer.context(principal, "convert"),
        )


class JobPage:
    """`GET /job/{id}`: everything about one job, its player and its download."""

    auth_required = False

    def __init__(self, sessions, viewer: Viewer, renderer: Renderer) -> None:
        self._sessions = sessions
        self._viewer = viewer
        self._renderer = renderer

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_id: str) -> None:
        principal = self._viewer.require(req)
        context = self._viewer.context(principal, "jobs")
        with session_scope(self._sessions) as session:
            try:
                job = visible_job(session, principal, job_id)
            except Problem:
                self._renderer.page(resp, "missing.html", status=falcon.HTTP_404, **context)
                return
            session.expunge(job)
        self._renderer.page(resp, "job.html", job=job, **context)
