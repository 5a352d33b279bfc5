"""Carry a browser's session: an HttpOnly cookie holding an API token, and the CSRF checks.

A browser signs in through the sign-in form and receives the same kind of JWT the API issues,
in a cookie that scripts cannot read (HttpOnly) and that other sites' sub-requests and posts do
not carry (SameSite=Lax). Because a cookie travels by itself, a cookie-authenticated request
that changes state must also prove it comes from our own pages:

1. its `Origin` header (or, lacking one, its `Referer`) is this service's own origin, and
2. it carries its session's CSRF token, in the `X-CSRF-Token` header (scripts) or the
   `csrf_token` form field (HTML forms). The token is an HMAC of the session token's `jti`, so
   it is worthless for any other session and needs no storage.

The sign-in form has no session yet: its token is bound to a random value in a short-lived
cookie instead (double submit), so another site cannot sign a browser into an account of its
choosing. Bearer-token API calls carry no cookie and need none of this.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

import falcon

from core.settings import Settings
from core.tokens import TokenService
from web.errors import Problem
from web.links import cookie_path

SESSION_COOKIE = "vid2mp3_session"
SIGN_IN_COOKIE = "vid2mp3_sign_in"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SIGN_IN_COOKIE_SECONDS = 3600


class BrowserSession:
    """Start, read and end browser sessions, and refuse cross-site state changes."""

    def __init__(self, settings: Settings, tokens: TokenService) -> None:
        self._tokens = tokens
        self._ttl = settings.session_ttl_seconds
        self._secure = settings.secure_cookies
        self._public_origin = _origin(settings.public_url)
        secret = settings.signing_secret().encode()
        self._key = hmac.new(secret, b"vid2mp3 csrf tokens", hashlib.sha256).digest()

    def token(self, req: falcon.Request) -> str | None:
        """Return the session token the browser sent, if any."""
        values = req.get_cookie_values(SESSION_COOKIE)
        return values[0] if values else None

    def start(self, req: falcon.Request, resp: falcon.Response, user_id: int, email: str) -> None:
        """Issue a session token for the user and hand it to the browser as the cookie."""
        token, _ = self._tokens.issue(str(user_id), ttl_seconds=self._ttl, claims={"email": email})
        self._set(req, resp, SESSION_COOKIE, token, self._ttl)
        resp.unset_cookie(SIGN_IN_COOKIE, path=cookie_path(req))

    def end(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Tell the browser to forget its session cookie."""
        resp.unset_cookie(SESSION_COOKIE, path=cookie_path(req))

    def csrf_token(self, claims: dict) -> str:
        """Return the CSRF token of the session whose token carries `claims`."""
        return self._mac("session:" + claims["jti"])

    def check(self, req: falcon.Request, claims: dict) -> None:
        """Refuse (403) a state-changing request that does not come from our pages."""
        if req.method in SAFE_METHODS:
            return
        self.check_origin(req)
        if not hmac.compare_digest(_sent_token(req), self.csrf_token(claims)):
            raise _refused("the form or page is out of date (CSRF token missing or wrong)")

    def check_origin(self, req: falcon.Request) -> None:
        """Refuse (403) a request whose Origin or Referer is not this service."""
        origin = req.get_header("Origin")
        if origin in (None, "null"):
            origin = _origin(req.get_header("Referer") or "")
        if not origin:
            raise _refused("the request does not say which page it comes from")
        if origin not in (self._public_origin, _origin(req.prefix)):
            raise _refused(f"requests from {origin} are not accepted")

    def sign_in_token(self, req: falcon.Request, resp: falcon.Response) -> str:
        """Return the sign-in form's CSRF token, setting its cookie when the browser has none."""
        values = req.get_cookie_values(SIGN_IN_COOKIE)
        nonce = values[0] if values else secrets.token_urlsafe(24)
        if not values:
            self._set(req, resp, SIGN_IN_COOKIE, nonce, _SIGN_IN_COOKIE_SECONDS)
        return self._mac("sign-in:" + nonce)

    def check_sign_in(self, req: falcon.Request) -> None:
        """Refuse (403) a sign-in post from another site or without its form's token."""
        self.check_origin(req)
        values = req.get_cookie_values(SIGN_IN_COOKIE)
        expected = self._mac("sign-in:" + values[0]) if values else ""
        if not expected or not hmac.compare_digest(_sent_token(req), expected):
            raise _refused("the sign-in form is out of date; reload the page and try again")

    def _set(
        self, req: falcon.Request, resp: falcon.Response, name: str, value: str, max_age: int
    ) -> None:
        resp.set_cookie(
            name,
            value,
            max_age=max_age,
            path=cookie_path(req),
            secure=self._secure,
            http_only=True,
            same_site="Lax",
        )

    def _mac(self, message: str) -> str:
        digest = hmac.new(self._key, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def local_path(target: str | None) -> str:
    """Return `target` if it is a path on this site (where to go after signing in), else "/"."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def form_fields(req: falcon.Request) -> dict[str, str]:
    """Return an urlencoded form's fields (the last value of a repeated one); {} for others."""
    if not (req.content_type or "").startswith("application/x-www-form-urlencoded"):
        return {}
    fields = req.get_media() or {}
    return {name: value[-1] if isinstance(value, list) else value for name, value in fields.items()}


def _sent_token(req: falcon.Request) -> str:
    token = req.get_header(CSRF_HEADER) or form_fields(req).get(CSRF_FIELD) or ""
    return token if isinstance(token, str) else ""


def _origin(url: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def _refused(detail: str) -> Problem:
    return Problem(falcon.HTTP_403, f"cross-site request refused: {detail}")
