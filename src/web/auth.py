"""Authenticate requests: a bearer JWT for every route that does not opt out."""

from __future__ import annotations

import dataclasses

import falcon

from core.db import session_scope
from core.models import User
from core.tokens import InvalidToken, TokenService, bearer_token
from web.errors import unauthorized


@dataclasses.dataclass(frozen=True)
class Principal:
    """The authenticated caller, as the resources see it."""

    id: int
    email: str
    is_admin: bool
    claims: dict


class AuthMiddleware:
    """Check the bearer token unless the resource sets `auth_required = False`."""

    def __init__(self, tokens: TokenService, sessions) -> None:
        self._tokens = tokens
        self._sessions = sessions

    def process_resource(self, req: falcon.Request, resp, resource, params) -> None:
        if resource is None or not getattr(resource, "auth_required", True):
            return
        if req.method == "OPTIONS":
            return
        req.context.principal = self.authenticate(req.get_header("Authorization"))

    def authenticate(self, header: str | None) -> Principal:
        """Return the principal for an Authorization header, or raise a 401 problem."""
        try:
            claims = self._tokens.verify(bearer_token(header))
        except InvalidToken as error:
            raise unauthorized(error.reason) from None
        try:
            user_id = int(claims["sub"])
        except (KeyError, ValueError):
            raise unauthorized("token subject is not a user") from None
        with session_scope(self._sessions) as session:
            user = session.get(User, user_id)
            if user is None or not user.is_active:
                raise unauthorized("account is disabled or no longer exists")
            return Principal(user.id, user.email, user.is_admin, claims)
