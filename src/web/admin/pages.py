"""The admin pages under `/admin`: overview, jobs, one job's timeline, workers, and their forms.

Pages use the UI's sign-in, renderer and look. A signed-in user who is not an admin gets the
UI's not-found page (404), exactly as for a page that does not exist. Forms post, then redirect
back with `?done=` saying what happened (post/redirect/get); the posts pass the UI's origin and
CSRF checks in `Viewer.require`.
"""

from __future__ import annotations

import uuid

import falcon

from core.models import utcnow
from core.states import JobState
from web.admin.filters import PAGE_SIZES, SORTS, JobFilter
from web.admin.service import MEDIAN_SAMPLE, AdminService
from web.auth import AuthMiddleware, Principal
from web.errors import Problem, not_found
from web.links import see_other
from web.ui.viewer import Viewer

_DONE = {
    "retry": "The job was sent to run again.",
    "cancel": "The job was cancelled.",
    "delete": "The job was deleted.",
    "bulk": "{n} failed job(s) sent to run again.",
    "requeue": "{n} dead letter(s) taken out; their failed jobs run again.",
    "purge": "{n} dead letter(s) dropped.",
}


class NotAdmin(Exception):
    """A signed-in user who is not an admin asked for an admin page."""

    def __init__(self, principal: Principal) -> None:
        super().__init__("not an admin")
        self.principal = principal


class AdminViewer:
    """Find the admin looking at a page (others: `NotAdmin`, rendered as the 404 page)."""

    def __init__(self, viewer: Viewer, auth: AuthMiddleware) -> None:
        self.viewer = viewer
        self._auth = auth

    def require(self, req: falcon.Request, *, csrf: bool = True) -> Principal:
        """Return the signed-in admin; raise `NotAdmin` for anyone else who is signed in.

        A bearer token works too (scripts fetching a page); it must be an admin's login.
        """
        if req.get_header("Authorization") is not None:
            principal = self._auth.identify(req)
            if not principal.is_admin or principal.scopes is not None:
                raise not_found("page")
            return principal
        principal = self.viewer.require(req, csrf=csrf)
        if not principal.is_admin:
            raise NotAdmin(principal)
        return principal

    def page(self, req, resp, principal: Principal, here: str, template: str, **context) -> None:
        """Render an admin page for `principal`, with the notice `?done=` asks for."""
        message = _DONE.get(req.get_param("done") or "")
        notice = message.format(n=req.get_param_as_int("n", default=0)) if message else None
        self.viewer.page(
            req, resp, principal, "admin", template, section=here, notice=notice, **context
        )

    def not_admin(self, req, resp, error: NotAdmin, params) -> None:
        """Error handler: the UI's not-found page, status 404."""
        self.viewer.page(req, resp, error.principal, "jobs", "missing.html", status=falcon.HTTP_404)


class _AdminPage:
    """An admin page: the UI's sign-in (the middleware leaves it to the page), the service."""

    auth_required = False

    def __init__(self, service: AdminService, admin: AdminViewer) -> None:
        self._service = service
        self._admin = admin


class OverviewPage(_AdminPage):
    """`GET /admin`: jobs by state, throughput, failure rate, median times, queues, workers."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        principal = self._admin.require(req)
        self._admin.page(
            req,
            resp,
            principal,
            "overview",
            "admin/overview.html",
            o=self._service.overview(),
            sample=MEDIAN_SAMPLE,
            now=utcnow(),
        )


class JobsPage(_AdminPage):
    """`GET /admin/jobs`: every user's jobs with filters, sort and pages; bulk retry."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        principal = self._admin.require(req)
        query = JobFilter.from_request(req)
        rows, total = self._service.jobs(query)
        self._admin.page(
            req,
            resp,
            principal,
            "jobs",
            "admin/jobs.html",
            rows=rows,
            total=total,
            f=query,
            pages=max(1, -(-total // query.per_page)),
            states=[state.value for state in JobState],
            sorts=list(SORTS),
            page_sizes=PAGE_SIZES,
        )

    def on_post_retry(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._admin.require(req)
        query = JobFilter.from_request(req)
        retried = self._service.retry_matching(query)
        see_other(req, resp, f"/admin/jobs?{query.query_string(page=1)}&done=bulk&n={retried}")


class JobPage(_AdminPage):
    """`GET /admin/jobs/{id}`: a job, its owner and its timeline; posts retry, cancel, delete."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID) -> None:
        principal = self._admin.require(req)
        row, events = self._service.job(job_id.hex)
        self._admin.page(req, resp, principal, "jobs", "admin/job.html", row=row, events=events)

    def on_post_action(
        self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID, action: str
    ) -> None:
        self._admin.require(req)
        actions = {
            "retry": self._service.retry,
            "cancel": self._service.cancel,
            "delete": self._service.delete,
        }
        if action not in actions:
            raise falcon.HTTPNotFound()
        actions[action](job_id.hex)
        target = "/admin/jobs" if action == "delete" else f"/admin/jobs/{job_id.hex}"
        see_other(req, resp, f"{target}?done={action}")


class WorkersPage(_AdminPage):
    """`GET /admin/workers`: every worker process, live or gone after its silence."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        principal = self._admin.require(req)
        self._admin.page(
            req,
            resp,
            principal,
            "workers",
            "admin/workers.html",
            workers=self._service.workers(),
            gone_seconds=self._service.settings.worker_gone_seconds,
        )


class QueueActions(_AdminPage):
    """`POST /admin/queues/{queue}/requeue|purge`: empty a queue's dead letters;
    `POST /admin/queues/{queue}/dead/{message_id}/requeue|purge`: take out one of them."""

    def on_post(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        queue: str,
        action: str,
        message_id: str | None = None,
    ) -> None:
        self._admin.require(req)
        if action not in ("requeue", "purge"):
            raise falcon.HTTPNotFound()
        take = self._service.requeue_dead if action == "requeue" else self._service.purge_dead
        try:
            count = take(queue, message_id)
        except Problem:
            if message_id is None:
                raise
            count = 0  # that letter was taken meanwhile (another admin, another tab)
        see_other(req, resp, f"/admin?done={action}&n={count}")
