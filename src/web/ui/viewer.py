"""Find who is looking at a page, or send the browser to the sign-in page."""

from __future__ import annotations

from urllib.parse import quote

import falcon

from web.auth import AuthMiddleware, Principal
from web.browser import SAFE_METHODS, BrowserSession
from web.errors import Problem


class Viewer:
    """Turn a page request into the signed-in principal and the page's common context."""

    def __init__(self, auth: AuthMiddleware, browser: BrowserSession) -> None:
        self._auth = auth
        self._browser = browser

    def require(self, req: falcon.Request) -> Principal:
        """Return the signed-in principal; redirect to the sign-in page when there is none.

        A form post from another site is refused (403) whether or not the browser sent a cookie.
        """
        if req.method not in SAFE_METHODS:
            self._browser.check_origin(req)
        if self._browser.token(req) is not None:
            try:
                return self._auth.identify(req)
            except Problem as error:
                if error.status_code != 401:
                    raise
        target = req.relative_uri if req.method == "GET" else "/"
        raise falcon.HTTPSeeOther(f"/sign-in?next={quote(target, safe='/')}")

    def context(self, principal: Principal, here: str) -> dict:
        """Return what every signed-in page's template needs."""
        return {
            "viewer": principal,
            "csrf": self._browser.csrf_token(principal.claims),
            "here": here,
        }
