"""The admin dashboard: `/admin` pages, their JSON under `/admin/api`, dramatiq-dashboard.

Screens: overview (`/admin`), all jobs (`/admin/jobs`), one job's timeline
(`/admin/jobs/{id}`), workers (`/admin/workers`) and tasks (`/admin/tasks`, dramatiq-dashboard
on Redis). Only admins see them; everyone else gets 404.
"""

from __future__ import annotations

import falcon

from web.admin import api, pages
from web.admin.service import AdminService
from web.admin.tasks import PREFIX, TasksSink
from web.auth import AuthMiddleware
from web.ui.viewer import Viewer


def install(
    app: falcon.App, service: AdminService, viewer: Viewer, auth: AuthMiddleware, dashboard=None
) -> None:
    """Add the admin routes; `dashboard(mount_path)` makes dramatiq-dashboard's app on Redis."""
    admin = pages.AdminViewer(viewer, auth)
    app.add_error_handler(pages.NotAdmin, admin.not_admin)
    app.add_route("/admin", pages.OverviewPage(service, admin))
    jobs_page = pages.JobsPage(service, admin)
    app.add_route("/admin/jobs", jobs_page)
    app.add_route("/admin/jobs/retry", jobs_page, suffix="retry")
    job_page = pages.JobPage(service, admin)
    app.add_route("/admin/jobs/{job_id:uuid}", job_page)
    app.add_route("/admin/jobs/{job_id:uuid}/{action}", job_page, suffix="action")
    app.add_route("/admin/workers", pages.WorkersPage(service, admin))
    queue_actions = pages.QueueActions(service, admin)
    app.add_route("/admin/queues/{queue}/{action}", queue_actions)
    app.add_route("/admin/queues/{queue}/dead/{message_id}/{action}", queue_actions)

    jobs_api = api.JobsApi(service, auth)
    app.add_route("/admin/api/overview", api.OverviewApi(service, auth))
    app.add_route("/admin/api/jobs", jobs_api)
    app.add_route("/admin/api/jobs/retry", jobs_api, suffix="retry")
    job_api = api.JobApi(service, auth)
    app.add_route("/admin/api/jobs/{job_id:uuid}", job_api)
    app.add_route("/admin/api/jobs/{job_id:uuid}/{action}", job_api, suffix="action")
    app.add_route("/admin/api/workers", api.WorkersApi(service, auth))
    queues_api = api.QueuesApi(service, auth)
    app.add_route("/admin/api/queues", queues_api)
    app.add_route("/admin/api/queues/{queue}/{action}", queues_api, suffix="action")
    app.add_route(
        "/admin/api/queues/{queue}/dead/{message_id}/{action}", queues_api, suffix="action"
    )

    kind = service.queues.kind if service.queues is not None else None
    app.add_sink(TasksSink(admin, dashboard, kind), prefix=PREFIX + r"(/|$)")
