"""Log in (HTTP Basic or JSON credentials) for a JWT, and check a token's claims."""

from __future__ import annotations

import base64
import binascii
import math

import falcon

from core import logins
from core.db import session_scope
from core.settings import Settings
from core.tokens import TokenService
from web.errors import Problem


class LoginResource:
    """`POST /login`: exchange credentials for an access token; throttled per account and client."""

    auth_required = False

    def __init__(self, settings: Settings, sessions, tokens: TokenService) -> None:
        self._settings = settings
        self._sessions = sessions
        self._tokens = tokens

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        email, password = _credentials(req)
        with session_scope(self._sessions) as session:
            try:
                user = logins.attempt(
                    session,
                    email,
                    password,
                    req.remote_addr,
                    max_failures=self._settings.login_max_failures,
                    lockout_seconds=self._settings.login_lockout_seconds,
                )
            except logins.Throttled as error:
                raise _too_many_attempts(error.seconds) from None
            if user is not None:
                token, claims = self._tokens.issue(str(user.id), claims={"email": user.email})
        if user is None:
            raise Problem(
                falcon.HTTP_401,
                "wrong e-mail or password",
                headers={"WWW-Authenticate": 'Basic realm="vid2mp3"'},
            )
        resp.media = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": claims["exp"] - claims["iat"],
        }


class ValidateResource:
    """`POST /validate`: return the claims of the bearer token (401 when it is not valid)."""

    token_scopes = {"GET": "read", "POST": "read"}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = req.context.principal.claims

    on_get = on_post


def _too_many_attempts(wait: float) -> Problem:
    seconds = max(1, math.ceil(wait))
    return Problem(
        falcon.HTTP_429,
        f"too many failed logins; try again in {seconds} seconds",
        headers={"Retry-After": str(seconds)},
    )


def _credentials(req: falcon.Request) -> tuple[str, str]:
    header = req.get_header("Authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            raise Problem(falcon.HTTP_400, "use HTTP Basic or a JSON body to log in")
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Problem(falcon.HTTP_400, "malformed HTTP Basic credentials") from None
        email, sep, password = decoded.partition(":")
        if not sep:
            raise Problem(falcon.HTTP_400, "HTTP Basic credentials need user:password")
        return email, password
    if req.content_length and (req.content_type or "").startswith("application/json"):
        body = req.get_media()
        if (
            isinstance(body, dict)
            and isinstance(body.get("email"), str)
            and isinstance(body.get("password"), str)
        ):
            return body["email"], body["password"]
        raise Problem(falcon.HTTP_400, 'JSON credentials need string fields "email" and "password"')
    raise Problem(
        falcon.HTTP_401,
        "credentials required: HTTP Basic or a JSON body with email and password",
        headers={"WWW-Authenticate": 'Basic realm="vid2mp3"'},
    )
