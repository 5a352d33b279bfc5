"""The signed-in pages: the jobs list, the upload page and one job's page."""

from __future__ import annotations

import uuid

import falcon

from core.db import session_scope
from core.settings import Settings
from web.errors import Problem
from web.resources.jobs import visible_job
from web.ui.render import human_size
from web.ui.viewer import Viewer


class JobsPage:
    """`GET /`: the user's jobs, newest first; the list itself is kept live by jobs.js."""

    auth_required = False

    def __init__(self, viewer: Viewer) -> None:
        self._viewer = viewer

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._viewer.page(req, resp, self._viewer.require(req), "jobs", "jobs.html")


class ConvertPage:
    """`GET /convert`: choose or drop videos, set the options, watch each upload."""

    auth_required = False

    def __init__(self, settings: Settings, viewer: Viewer) -> None:
        self._max_upload = human_size(settings.max_upload_bytes)
        self._viewer = viewer

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        principal = self._viewer.require(req)
        self._viewer.page(
            req, resp, principal, "convert", "convert.html", max_upload=self._max_upload
        )


class JobPage:
    """`GET /job/{id}`: everything about one job, its player and its download."""

    auth_required = False

    def __init__(self, sessions, viewer: Viewer) -> None:
        self._sessions = sessions
        self._viewer = viewer

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID) -> None:
        principal = self._viewer.require(req)
        with session_scope(self._sessions) as session:
            try:
                job = visible_job(session, principal, job_id)
            except Problem:
                job = None
            else:
                session.expunge(job)
        if job is None:
            self._viewer.page(req, resp, principal, "jobs", "missing.html", status=falcon.HTTP_404)
        else:
            self._viewer.page(req, resp, principal, "jobs", "job.html", job=job)
