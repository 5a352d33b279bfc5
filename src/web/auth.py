"""Authenticate requests: a bearer JWT, a scoped personal access token, or a browser's session
cookie, unless a route opts out.

Without an Authorization header, the browser's session cookie is accepted instead, and a
state-changing request must then pass the browser session's CSRF checks.

A personal access token needs the scope its route names in `token_scopes` (method → scope; by
default GET/HEAD need `read`, POST/DELETE need `upload`); a method missing from the map refuses
tokens, as token management does. Token callers never get admin powers: those need a login.
"""

from __future__ import annotations

import dataclasses

import falcon
from sqlalchemy import bindparam, select

from core import access_tokens, revocations
from core.db import reading, session_scope
from core.models import User
from core.tokens import InvalidToken, TokenService, bearer_token
from web.browser import BrowserSession
from web.errors import Problem, unauthorized


@dataclasses.dataclass(frozen=True)
class Principal:
    """The authenticated caller, as the resources see it."""

    id: int
    email: str
    is_admin: bool
    claims: dict
    # A personal access token's scopes; None for a password (or single sign-on) login.
    scopes: frozenset[str] | None = None


DEFAULT_TOKEN_SCOPES = {"GET": "read", "HEAD": "read", "POST": "upload", "DELETE": "upload"}

# Built once, run on every request: the token's user and whether the token was signed out.
_USER_AND_REVOKED = select(
    User.email,
    User.is_admin,
    User.is_active,
    revocations.revoked(bindparam("jti")).label("revoked"),
).where(User.id == bindparam("user_id"))


class AuthMiddleware:
    """Check the caller's credentials unless the resource sets `auth_required = False`."""

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
        principal = self.identify(req)
        if principal.scopes is not None:
            needed = getattr(resource, "token_scopes", DEFAULT_TOKEN_SCOPES).get(req.method)
            _check_scope(principal.scopes, needed)
        req.context.principal = principal

    def identify(self, req: falcon.Request, *, csrf: bool = True) -> Principal:
        """Return the caller by bearer header or session cookie, or raise a 401/403 problem.

        `csrf=False` skips the session's CSRF check, for an embedded app with its own.
        """
        header = req.get_header("Authorization")
        cookie = self._browser.token(req) if header is None and self._browser else None
        if cookie is None:
            return self.authenticate(header)
        principal = self._principal(cookie)
        if csrf:
            self._browser.check(req, principal.claims)
        return principal

    def authenticate(self, header: str | None) -> Principal:
        """Return the principal for an Authorization header, or raise a 401 problem."""
        try:
            token = bearer_token(header)
            if access_tokens.is_personal_token(token):
                return self._personal(token)
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
        with reading(self._sessions) as connection:
            params = {"jti": claims["jti"], "user_id": user_id}
            row = connection.execute(_USER_AND_REVOKED, params).one_or_none()
        if row is not None and row.revoked:
            raise unauthorized("signed out")
        if row is None or not row.is_active:
            raise unauthorized("account is disabled or no longer exists")
        return Principal(user_id, row.email, row.is_admin, claims)

    def _personal(self, token: str) -> Principal:
        with session_scope(self._sessions) as session:
            user, scopes = access_tokens.authenticate_token(session, token)
            claims = {"sub": str(user.id), "email": user.email, "scope": " ".join(sorted(scopes))}
            return Principal(user.id, user.email, False, claims, scopes)


def _check_scope(granted: frozenset[str], needed: str | None) -> None:
    if needed is None:
        raise Problem(
            falcon.HTTP_403, "personal access tokens cannot be used here; log in with a password"
        )
    if needed not in granted:
        raise Problem(
            falcon.HTTP_403,
            f"this personal access token lacks the {needed} scope",
            headers={
                "WWW-Authenticate": f'Bearer realm="vid2mp3", error="insufficient_scope", '
                f'scope="{needed}"'
            },
        )
