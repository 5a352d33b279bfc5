"""`/admin/tasks`: dramatiq-dashboard behind the admin check, when the broker is Redis.

dramatiq-dashboard has no authentication of its own and reads only Redis. It is mounted as a
Falcon sink: the admin check runs first, then the request goes to the dashboard's WSGI app with
`SCRIPT_NAME` extended by the mount path and `PATH_INFO` the rest, and its answer is copied
back. The dashboard writes its links from the mount path it is made with, so there is one
per root path (a proxy's path prefix). On RabbitMQ or the in-process broker the page says why
there is no dashboard and points to `/admin`.
"""

from __future__ import annotations

import falcon

from web.admin.pages import AdminViewer

PREFIX = "/admin/tasks"


class TasksSink:
    """Serve dramatiq-dashboard to admins.

    `dashboard(mount_path)` makes its WSGI app for that mount path; None off Redis.
    """

    def __init__(self, admin: AdminViewer, dashboard, broker_kind: str | None) -> None:
        self._admin = admin
        self._dashboard = dashboard
        self._broker_kind = broker_kind
        self._apps: dict[str, object] = {}

    def __call__(self, req: falcon.Request, resp: falcon.Response, **params) -> None:
        # The dashboard's forms carry its own CSRF token (double submit), not ours.
        principal = self._admin.require(req, csrf=False)
        if self._dashboard is None:
            self._admin.page(
                req,
                resp,
                principal,
                "tasks",
                "admin/tasks.html",
                broker=self._broker_kind,
            )
            return
        mount = req.root_path + PREFIX
        if mount not in self._apps:
            self._apps[mount] = self._dashboard(mount)
        environ = dict(req.env)
        environ["SCRIPT_NAME"] = mount
        environ["PATH_INFO"] = req.path[len(PREFIX) :] or "/"
        answer: dict = {}

        def start_response(status, headers, exc_info=None):
            answer["status"], answer["headers"] = status, headers

        body = self._apps[mount](environ, start_response)
        try:
            resp.data = b"".join(body)
        finally:
            getattr(body, "close", lambda: None)()
        resp.status = answer["status"]
        for name, value in answer["headers"]:
            if name.lower() == "set-cookie":
                resp.append_header(name, value)
            elif name.lower() != "content-length":
                resp.set_header(name, value)
