"""Find who is looking at a page, or send the browser to the sign-in page."""

from __future__ import annotations

from urllib.parse import quote

import falcon

from web.auth import AuthMiddleware, Principal
from web.browser import SAFE_METHODS, BrowserSession
from web.errors import Problem
from web.links import current_path, link
from web.ui.render import Renderer


class Viewer:
    """Turn a page request into the signed-in principal, and render pages for them."""

    def __init__(self, auth: AuthMiddleware, browser: BrowserSession, renderer: Renderer) -> None:
        self._auth = auth
        self._browser = browser
        self._renderer = renderer

    def require(self, req: falcon.Request, *, csrf: bool = True) -> Principal:
        """Return the signed-in principal; redirect to the sign-in page when there is none.

        A form post from another site is refused (403) whether or not the browser sent a cookie.
        `csrf=False` leaves the CSRF token to an embedded app with its own (dramatiq-dashboard).
        """
        if req.method not in SAFE_METHODS:
            self._browser.check_origin(req)
        if self._browser.token(req) is not None:
            try:
                return self._auth.identify(req, csrf=csrf)
            except Problem as error:
                if error.status_code != 401:
                    raise
        target = current_path(req) if req.method == "GET" else "/"
        raise falcon.HTTPSeeOther(link(req, f"/sign-in?next={quote(target, safe='/')}"))

    def page(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        principal: Principal,
        here: str,
        template: str,
        *,
        status: str = falcon.HTTP_200,
        **context,
    ) -> None:
        """Render a signed-in page: its own context plus who is looking and their CSRF token."""
        self._renderer.page(
            req,
            resp,
            template,
            status=status,
            viewer=principal,
            csrf=self._browser.csrf_token(principal.claims),
            here=here,
            **context,
        )
