"""The owner's personal access tokens: list, create (plaintext shown once) and revoke."""

from __future__ import annotations

import datetime as dt

import falcon

from core import access_tokens
from core.db import session_scope
from core.models import PersonalAccessToken, User, utcnow
from web.errors import Problem, not_found
from web.links import link

MAX_EXPIRY_DAYS = 3650


def token_json(token: PersonalAccessToken) -> dict:
    """Return the public representation of a token (never its secret or hash)."""

    def iso(value: dt.datetime | None) -> str | None:
        return None if value is None else value.isoformat().replace("+00:00", "Z")

    return {
        "id": token.id,
        "name": token.name,
        "scopes": token.scopes.split(),
        "hint": token.hint + "…",
        "created_at": iso(token.created_at),
        "expires_at": iso(token.expires_at),
        "last_used_at": iso(token.last_used_at),
    }


class AccountTokensResource:
    """`GET /account/tokens`: the caller's tokens; `POST`: create one (201, plaintext once)."""

    # A token never lists, creates or revokes tokens: that takes a password login.
    token_scopes: dict[str, str] = {}

    def __init__(self, sessions) -> None:
        self._sessions = sessions

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        with session_scope(self._sessions) as session:
            tokens = access_tokens.list_tokens(session, req.context.principal.id)
            resp.media = {"items": [token_json(token) for token in tokens]}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        name, scopes, expires_at = _creation_request(req)
        with session_scope(self._sessions) as session:
            user = session.get(User, req.context.principal.id)
            try:
                token, plaintext = access_tokens.create_token(
                    session, user, name, scopes, expires_at
                )
            except access_tokens.TokenRequestError as error:
                raise Problem(falcon.HTTP_422, str(error)) from None
            body = {**token_json(token), "token": plaintext}
        resp.status = falcon.HTTP_201
        resp.location = link(req, f"/account/tokens/{token.id}")
        resp.cache_control = ["no-store"]
        resp.media = body


class AccountTokenResource:
    """`DELETE /account/tokens/{id}`: revoke one of the caller's tokens (204; 404 if not theirs)."""

    token_scopes: dict[str, str] = {}

    def __init__(self, sessions) -> None:
        self._sessions = sessions

    def on_delete(self, req: falcon.Request, resp: falcon.Response, token_id: int) -> None:
        with session_scope(self._sessions) as session:
            if not access_tokens.revoke_token(session, req.context.principal.id, token_id):
                raise not_found("token")
        resp.status = falcon.HTTP_204


def _creation_request(req: falcon.Request) -> tuple[str, object, dt.datetime | None]:
    if not (req.content_type or "").startswith("application/json"):
        raise Problem(falcon.HTTP_415, 'send JSON: {"name": ..., "scopes": ["read", "upload"]}')
    body = req.get_media(default_when_empty=None)
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        raise Problem(falcon.HTTP_422, 'the body needs a string field "name"')
    days = body.get("expires_in_days")
    if days is None:
        return body["name"], body.get("scopes"), None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_EXPIRY_DAYS:
        raise Problem(
            falcon.HTTP_422,
            f"expires_in_days must be a whole number from 1 to {MAX_EXPIRY_DAYS}, or null",
        )
    return body["name"], body.get("scopes"), utcnow() + dt.timedelta(days=days)
