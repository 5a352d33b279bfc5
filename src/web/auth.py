"""Authenticate requests: a bearer JWT, or a browser's session cookie, unless a route opts out."""

from __future__ import annotations

import dataclasses

import falcon

from core import revocations
from core.db import session_scope
from core.models import User
from core.tokens import InvalidToken, TokenService, bearer_token
from web.browser import BrowserSession
from web.errors import unauthorized


@dataclasses.dataclass(frozen=True)
class Principal:
    """The authenticated caller, as the resources see it."""

    id: int
    email: str
    is_admin: bool
    claims: dict


class AuthMiddleware:
    """Check the bearer token unless the resource sets `auth_required = False`.

    Without an Authorization header, the browser's session cookie is accepted instead, and a
    state-changing request must then pass the browser session's CSRF checks.
    """

    def __init__(
        self, tokens: TokenService, sessions, browser: BrowserSession | None = None
    ) -> None:
        self._tokens = tokens
        self._sessions = sessions
        self._browser = browser

    def process_resource(self, req: falcon.Request, resp, resource, params) -> None:
        if resource is None or not getattr(resource, "auth_required", True):
            return
        if req.method == "OPTIONS":
            return
        req.context.principal = self.identify(req)

    def identify(self, req: falcon.Request) -> Principal:
        """Return the caller by bearer header or session cookie, or raise a 401/403 problem."""
        header = req.get_header("Authorization")
        cookie = self._browser.token(req) if header is None and self._browser else None
        if cookie is None:
            return self.authenticate(header)
        principal = self._principal(cookie)
        self._browser.check(req, principal.claims)
        return principal

    def authenticate(self, header: str | None) -> Principal:
        """Return the principal for an Authorization header, or raise a 401 problem."""
        try:
            token = bearer_token(header)
        except InvalidToken as error:
            raise unauthorized(error.reason) from None
        return self._principal(token)

    def _principal(self, token: str) -> Principal:
        try:
            claims = self._tokens.verify(token)
        except InvalidToken as error:
            raise unauthorized(error.reason) from None
        try:
            user_id = int(claims["sub"])
        except (KeyError, ValueError):
            raise unauthorized("token subject is not a user") from None
        with session_scope(self._sessions) as session:
            if revocations.is_revoked(session, claims["jti"]):
                raise unauthorized("signed out")
            user = session.get(User, user_id)
            if user is None or not user.is_active:
                raise unauthorized("account is disabled or no longer exists")
            return Principal(user.id, user.email, user.is_admin, claims)
