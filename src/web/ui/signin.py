"""Sign a browser in (a form, throttled like the API's login) and out (the token is revoked)."""

from __future__ import annotations

import datetime as dt
import math

import falcon

from core import logins, revocations
from core.db import session_scope
from core.settings import Settings
from web.auth import AuthMiddleware
from web.browser import BrowserSession, form_fields, local_path
from web.errors import Problem
from web.links import see_other
from web.ui.render import Renderer


class SignInPage:
    """`GET /sign-in`: the form; `POST /sign-in`: check it, set the session cookie, go on."""

    auth_required = False

    def __init__(
        self,
        settings: Settings,
        sessions,
        browser: BrowserSession,
        renderer: Renderer,
        auth: AuthMiddleware,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._browser = browser
        self._renderer = renderer
        self._auth = auth

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        next_page = local_path(req.get_param("next"))
        if self._signed_in(req):
            see_other(req, resp, next_page)
            return
        self._form(req, resp, email="", error=None, next_page=next_page)

    def _signed_in(self, req: falcon.Request) -> bool:
        if self._browser.token(req) is None:
            return False
        try:
            self._auth.identify(req)
        except Problem:
            return False
        return True

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._browser.check_sign_in(req)
        fields = form_fields(req)
        email = fields.get("email", "").strip()
        next_page = local_path(fields.get("next"))
        with session_scope(self._sessions) as session:
            try:
                user = logins.attempt(
                    session,
                    email,
                    fields.get("password", ""),
                    req.remote_addr,
                    max_failures=self._settings.login_max_failures,
                    lockout_seconds=self._settings.login_lockout_seconds,
                )
            except logins.Throttled as error:
                seconds = max(1, math.ceil(error.seconds))
                resp.set_header("Retry-After", str(seconds))
                self._form(
                    req,
                    resp,
                    email=email,
                    error=f"Too many failed attempts. Try again in {seconds} seconds.",
                    next_page=next_page,
                    status=falcon.HTTP_429,
                )
                return
            identity = None if user is None else (user.id, user.email)
        if identity is None:
            self._form(
                req,
                resp,
                email=email,
                error="Wrong e-mail address or password.",
                next_page=next_page,
                status=falcon.HTTP_401,
            )
            return
        self._browser.start(req, resp, *identity)
        see_other(req, resp, next_page)

    def _form(self, req, resp, *, email, error, next_page, status=falcon.HTTP_200) -> None:
        self._renderer.page(
            req,
            resp,
            "sign_in.html",
            status=status,
            email=email,
            error=error,
            next_page=next_page,
            csrf=self._browser.sign_in_token(req, resp),
            sso_provider=self._settings.oidc_provider_label,
            viewer=None,
            here="sign-in",
        )


class SignOutResource:
    """`POST /sign-out`: revoke the session's token at once and forget the cookie."""

    def __init__(self, sessions, browser: BrowserSession) -> None:
        self._sessions = sessions
        self._browser = browser

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        claims = req.context.principal.claims
        expires = dt.datetime.fromtimestamp(claims["exp"], dt.UTC)
        with session_scope(self._sessions) as session:
            revocations.revoke(session, claims["jti"], expires)
        self._browser.end(req, resp)
        see_other(req, resp, "/sign-in")
