"""Build the app's own URLs under its root path, so it works behind a proxy's path prefix.

Routes and code speak of app-relative paths (`/jobs/…`, `/admin`); what leaves the app —
links in pages and JSON, redirects, cookie paths — is prefixed with `req.root_path` (the WSGI
`SCRIPT_NAME`, set by `web.proxy.ProxyFix` from `ROOT_PATH` or a trusted `X-Forwarded-Prefix`).
"""

from __future__ import annotations

import falcon


def link(req: falcon.Request, path: str) -> str:
    """Return the URL path of the app-relative `path` (which starts with "/")."""
    return req.root_path + path


def current_path(req: falcon.Request) -> str:
    """Return the app-relative path and query of this request (where to come back to)."""
    return req.path + (f"?{req.query_string}" if req.query_string else "")


def cookie_path(req: falcon.Request, path: str = "/") -> str:
    """Return the `Path` of a cookie for the app-relative `path`."""
    return (req.root_path + path).rstrip("/") or "/"


def see_other(req: falcon.Request, resp: falcon.Response, path: str) -> None:
    """Answer 303 See Other to the app-relative `path`.

    Set on the response rather than raised, so cookies set before it go with it.
    """
    location = link(req, path)
    resp.status = falcon.HTTP_303
    resp.location = location
    resp.content_type = falcon.MEDIA_TEXT
    resp.text = f"See {location}"
