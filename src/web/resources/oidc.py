"""Sign in with the OpenID provider: `/auth/oidc/login` sends the browser there, `/callback` back.

Between the two, the sign-in's state, nonce and PKCE code verifier wait in a short-lived cookie
signed with the service's key (audience `vid2mp3-oidc`), scoped to `/auth/oidc`, so the callback
only completes a sign-in that this browser started. A sign-in started by the web UI's button
(`/auth/oidc/login?next=/page`) ends in the browser's cookie session (`web.browser`) and a
redirect to that page; one started without `next` (an API client) gets the answer of
`POST /login`, the API's own token, as JSON.
"""

from __future__ import annotations

import falcon

from core import sso
from core.db import session_scope
from core.settings import Settings
from core.tokens import InvalidToken, TokenService
from web.browser import BrowserSession, local_path
from web.errors import Problem, service_unavailable
from web.links import cookie_path, see_other

COOKIE = "vid2mp3_oidc"
COOKIE_PATH = "/auth/oidc"
AUDIENCE = "vid2mp3-oidc"
LOGIN_TTL_SECONDS = 600


class OidcLoginResource:
    """`GET /auth/oidc/login`: redirect to the provider with a fresh state, nonce and verifier."""

    auth_required = False

    def __init__(self, settings: Settings, client: sso.OidcClient, tokens: TokenService) -> None:
        self._secure = settings.public_url.startswith("https://")
        self._client = client
        self._tokens = tokens

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            started = self._client.begin()
        except sso.SsoError as error:
            raise service_unavailable(str(error)) from None
        keep = {"state": started.state, "nonce": started.nonce, "cv": started.code_verifier}
        if req.get_param("next") is not None:
            keep["next"] = local_path(req.get_param("next"))
        cookie, _ = self._tokens.issue(
            "oidc-login", audience=AUDIENCE, ttl_seconds=LOGIN_TTL_SECONDS, claims=keep
        )
        resp.set_cookie(
            COOKIE,
            cookie,
            max_age=LOGIN_TTL_SECONDS,
            path=cookie_path(req, COOKIE_PATH),
            secure=self._secure,
            http_only=True,
            same_site="Lax",  # the provider sends the browser back with a top-level GET
        )
        resp.cache_control = ["no-store"]
        resp.status = falcon.HTTP_302
        resp.location = started.url


class OidcCallbackResource:
    """`GET /auth/oidc/callback`: check what the provider sent back; start a session or answer
    with the API token."""

    auth_required = False

    def __init__(
        self, sessions, client: sso.OidcClient, tokens: TokenService, browser: BrowserSession
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._tokens = tokens
        self._browser = browser

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.get_param("error"):
            reason = req.get_param("error_description") or req.get_param("error")
            raise Problem(falcon.HTTP_401, f"the sign-in provider said no: {reason}")
        kept = self._kept(req)
        started = sso.LoginStart("", kept["state"], kept["nonce"], kept["cv"])
        try:
            identity = self._client.finish(
                req.get_param("code") or "", req.get_param("state") or "", started
            )
            with session_scope(self._sessions) as session:
                user = sso.sign_in(session, identity)
                user_id, email = user.id, user.email
        except sso.ProviderUnavailable as error:
            raise service_unavailable(str(error)) from None
        except sso.SsoError as error:
            raise Problem(falcon.HTTP_403, str(error)) from None
        resp.unset_cookie(COOKIE, path=cookie_path(req, COOKIE_PATH))
        resp.cache_control = ["no-store"]
        if "next" in kept:
            self._browser.start(req, resp, user_id, email)
            see_other(req, resp, kept["next"])
            return
        token, claims = self._tokens.issue(str(user_id), claims={"email": email})
        resp.media = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": claims["exp"] - claims["iat"],
        }

    def _kept(self, req: falcon.Request) -> dict:
        """Return what the login step kept in this browser's cookie (state, nonce, verifier)."""
        values = req.get_cookie_values(COOKIE) or []
        for value in values:
            try:
                return self._tokens.verify(value, audience=AUDIENCE)
            except InvalidToken:
                continue
        raise Problem(
            falcon.HTTP_400,
            "no sign-in in progress in this browser (or it took over 10 minutes); start again",
        )
