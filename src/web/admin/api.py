"""`/admin/api/...`: the admin dashboard as JSON for scripts, with an admin's bearer token.

Only a password (or single sign-on) login of an admin passes; a personal access token never
carries admin powers, and every other caller gets 404, as if the routes did not exist.
"""

from __future__ import annotations

import uuid

import falcon

from core.models import JobEvent
from web.admin.filters import JobFilter
from web.admin.service import AdminService, JobRow
from web.auth import AuthMiddleware
from web.errors import not_found
from web.resources.jobs import iso, job_json


def admin_only(req: falcon.Request, resp, resource: _AdminApi, params) -> None:
    """Answer 404 unless the caller is an admin who logged in with a password.

    The resources authenticate here rather than in the middleware, so that a personal access
    token gets the same 404 whatever its scopes.
    """
    principal = resource.auth.identify(req)
    if not principal.is_admin or principal.scopes is not None:
        raise not_found("page")
    req.context.principal = principal


class _AdminApi:
    """An admin API resource: authenticated by `admin_only`, backed by the admin service."""

    auth_required = False

    def __init__(self, service: AdminService, auth: AuthMiddleware) -> None:
        self._service = service
        self.auth = auth


def row_json(row: JobRow, root: str) -> dict:
    """Return a job with its owner's e-mail."""
    return {**job_json(row.job, root), "user": row.email}


def event_json(event: JobEvent) -> dict:
    """Return one attempt of one step."""
    return {
        "step": event.step,
        "attempt": event.attempt,
        "started_at": iso(event.started_at),
        "ended_at": iso(event.ended_at),
        "worker": {"host": event.worker_host, "pid": event.worker_pid},
        "outcome": event.outcome or "running",
        "error": event.error,
    }


def worker_json(worker: dict) -> dict:
    """Return a worker with its moments in ISO 8601."""
    return {
        **worker,
        "started_at": iso(worker["started_at"]),
        "last_seen_at": iso(worker["last_seen_at"]),
    }


def queues_json(queues: dict) -> dict:
    """Return the queues' depths and dead letters with the letters' moments in ISO 8601."""
    letters = [{**letter, "at": iso(letter["at"])} for letter in queues["dead_letters"]]
    return {**queues, "dead_letters": letters}


@falcon.before(admin_only)
class OverviewApi(_AdminApi):
    """`GET /admin/api/overview`: jobs by state, throughput, median times, queues, workers."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        overview = self._service.overview()
        resp.media = {**overview, "queues": queues_json(overview["queues"])}


@falcon.before(admin_only)
class JobsApi(_AdminApi):
    """`GET /admin/api/jobs`: every user's jobs, filtered, sorted and paged.

    `POST /admin/api/jobs/retry` with the same query retries every failed job that matches.
    """

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = JobFilter.from_request(req)
        rows, total = self._service.jobs(query)
        resp.media = {
            "items": [row_json(row, req.root_path) for row in rows],
            "total": total,
            "page": query.page,
            "per_page": query.per_page,
        }

    def on_post_retry(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.status = falcon.HTTP_202
        resp.media = {"retried": self._service.retry_matching(JobFilter.from_request(req))}


@falcon.before(admin_only)
class JobApi(_AdminApi):
    """`GET /admin/api/jobs/{id}`: a job and its timeline; `DELETE`: remove it for good.

    `POST /admin/api/jobs/{id}/retry` and `/cancel` act on it.
    """

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID) -> None:
        row, events = self._service.job(job_id.hex)
        resp.media = {
            **row_json(row, req.root_path),
            "timeline": [event_json(event) for event in events],
        }

    def on_delete(self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID) -> None:
        self._service.delete(job_id.hex)
        resp.status = falcon.HTTP_204

    def on_post_action(
        self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID, action: str
    ) -> None:
        if action == "retry":
            self._service.retry(job_id.hex)
        elif action == "cancel":
            self._service.cancel(job_id.hex)
        else:
            raise not_found("action")
        self.on_get(req, resp, job_id)
        resp.status = falcon.HTTP_202 if action == "retry" else falcon.HTTP_200


@falcon.before(admin_only)
class WorkersApi(_AdminApi):
    """`GET /admin/api/workers`: every worker process, live or gone."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"items": [worker_json(worker) for worker in self._service.workers()]}


@falcon.before(admin_only)
class QueuesApi(_AdminApi):
    """`GET /admin/api/queues`: each queue's depth and its first dead letters.

    `POST /admin/api/queues/{queue}/requeue` (or `/purge`) empties its dead letters;
    `POST /admin/api/queues/{queue}/dead/{message_id}/requeue` (or `/purge`) takes one.
    """

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = queues_json(self._service.queue_depths())

    def on_post_action(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        queue: str,
        action: str,
        message_id: str | None = None,
    ) -> None:
        if action == "requeue":
            resp.media = {"requeued": self._service.requeue_dead(queue, message_id)}
        elif action == "purge":
            resp.media = {"purged": self._service.purge_dead(queue, message_id)}
        else:
            raise not_found("action")
