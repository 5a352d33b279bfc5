"""`/admin/tasks`: dramatiq-dashboard behind the admin check, when the broker is Redis.

dramatiq-dashboard has no authentication of its own and reads only Redis. It is mounted as a
Falcon sink: the admin check runs first, then the request goes to the dashboard's WSGI app with
`SCRIPT_NAME` extended by the mount path and `PATH_INFO` the rest, and its answer is copied
back. On RabbitMQ or the in-process broker the page says why there is no dashboard and points
to `/admin`.
"""

from __future__ import annotations

import falcon

from web.admin.pages import AdminViewer

PREFIX = "/admin/tasks"


class TasksSink:
    """Serve dramatiq-dashboard (`dashboard`: its WSGI app, or None) to admins."""

    def __init__(self, admin: AdminViewer, dashboard, broker_kind: str | None) -> None:
        self._admin = admin
        self._dashboard = dashboard
        self._broker_kind = broker_kind

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
        environ = dict(req.env)
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + PREFIX
        environ["PATH_INFO"] = req.path[len(PREFIX) :] or "/"
        answer: dict = {}

        def start_response(status, headers, exc_info=None):
            answer["status"], answer["headers"] = status, headers

        body = self._dashboard(environ, start_response)
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
