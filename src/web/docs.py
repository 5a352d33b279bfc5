"""Serve the API's documentation: `/openapi.json`, Swagger UI at `/docs`, `/apidocs` redirects.

Swagger UI's files come from the installed `swagger-ui-bundle` package (no CDN), and the page
allows nothing else: its strict Content-Security-Policy has no inline script, no outside origin
and no validator site; the script that starts Swagger UI is a file of this package. The page's
URLs start with the app's root path (`{root}` in docs.html), so it works under a path prefix.
"""

from __future__ import annotations

import html
from pathlib import Path

import falcon
import swagger_ui_bundle

from web.links import link
from web.openapi import OpenApiResource

_HERE = Path(__file__).parent
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
_PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class SwaggerPage:
    """`GET /docs`: Swagger UI; `GET /docs/swagger-initializer.js`: the script that starts it."""

    auth_required = False

    def __init__(self) -> None:
        self._page = (_HERE / "docs.html").read_text()
        self._script = (_HERE / "docs.js").read_bytes()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self._page.replace("{root}", html.escape(req.root_path))
        resp.set_headers(_PAGE_HEADERS)

    def on_get_script(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JS
        resp.data = self._script
        resp.set_headers(_PAGE_HEADERS)


class RedirectToDocs:
    """`GET /apidocs` (and `/apidocs/`): where the original service kept its docs."""

    auth_required = False

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.status = falcon.HTTP_301
        resp.location = link(req, "/docs")
        resp.content_type = falcon.MEDIA_TEXT


def install(app: falcon.App) -> None:
    """Add the documentation routes to `app`."""
    page = SwaggerPage()
    app.add_route("/openapi.json", OpenApiResource(app))
    app.add_route("/docs", page)
    app.add_route("/docs/swagger-initializer.js", page, suffix="script")
    app.add_route("/apidocs", RedirectToDocs())
    app.add_static_route("/docs/static", str(swagger_ui_bundle.swagger_ui_path))
