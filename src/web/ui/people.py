"""The account page (change one's password) and the admins' users page (the CLI's `users`).

Forms post, then redirect to the page with `?done=` naming what happened (post/redirect/get),
or render the page again with the error next to the form. Every post first passes
`Viewer.require`, which checks its origin, its session cookie and its CSRF token.
"""

from __future__ import annotations

import falcon

from core import accounts, logins
from core.db import session_scope
from core.models import User
from core.settings import Settings
from web.auth import Principal
from web.browser import form_fields
from web.links import see_other
from web.ui.viewer import Viewer

_ACCOUNT_DONE = {"password": "Your password was changed."}
_USERS_DONE = {
    "created": "Account {who} created.",
    "disabled": "Account {who} disabled: it can no longer sign in.",
    "enabled": "Account {who} enabled.",
    "password": "Password of {who} changed.",
}


def _done(req: falcon.Request, messages: dict[str, str]) -> str | None:
    message = messages.get(req.get_param("done") or "")
    return message.format(who=req.get_param("who") or "the account") if message else None


def _sentence(error: Exception) -> str:
    text = str(error)
    return f"{text[:1].upper()}{text[1:]}."


class AccountPage:
    """`GET /account`: who you are; `POST /account/password`: change your password."""

    auth_required = False

    def __init__(self, settings: Settings, sessions, viewer: Viewer) -> None:
        self._settings = settings
        self._sessions = sessions
        self._viewer = viewer

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._show(req, resp, self._viewer.require(req), notice=_done(req, _ACCOUNT_DONE))

    def on_post_password(self, req: falcon.Request, resp: falcon.Response) -> None:
        principal = self._viewer.require(req)
        fields = form_fields(req)
        new = fields.get("new_password", "")
        if new != fields.get("confirm_password", ""):
            self._show(
                req, resp, principal, error="The new passwords differ.", status=falcon.HTTP_422
            )
            return
        error = None
        with session_scope(self._sessions) as session:
            try:
                user = logins.attempt(
                    session,
                    principal.email,
                    fields.get("current_password", ""),
                    req.remote_addr,
                    max_failures=self._settings.login_max_failures,
                    lockout_seconds=self._settings.login_lockout_seconds,
                )
                if user is None:
                    error = "Your current password is not right."
                else:
                    accounts.set_password(session, principal.email, new)
            except logins.Throttled:
                error = "Too many wrong passwords. Wait a few minutes and try again."
            except accounts.AccountError as failure:
                error = _sentence(failure)
        if error is not None:
            self._show(req, resp, principal, error=error, status=falcon.HTTP_422)
            return
        see_other(req, resp, "/account?done=password")

    def _show(
        self, req, resp, principal: Principal, *, notice=None, error=None, status=None
    ) -> None:
        self._viewer.page(
            req,
            resp,
            principal,
            "account",
            "account.html",
            status=status or falcon.HTTP_200,
            notice=notice,
            error=error,
        )


class UsersPage:
    """`GET /users`: every account (admins only); `POST /users`: create one."""

    auth_required = False

    def __init__(self, sessions, viewer: Viewer) -> None:
        self._sessions = sessions
        self._viewer = viewer

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        principal = self._admin(req, resp)
        if principal is not None:
            self.show(req, resp, principal, notice=_done(req, _USERS_DONE))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        principal = self._admin(req, resp)
        if principal is None:
            return
        fields = form_fields(req)
        try:
            with session_scope(self._sessions) as session:
                user = accounts.create_user(
                    session,
                    fields.get("email", ""),
                    fields.get("password", ""),
                    is_admin=fields.get("is_admin") == "on",
                )
                email = user.email
        except accounts.AccountError as error:
            self.show(
                req, resp, principal, error=_sentence(error), form=fields, status=falcon.HTTP_422
            )
            return
        see_other(req, resp, f"/users?done=created&who={falcon.uri.encode_value(email)}")

    def on_post_action(
        self, req: falcon.Request, resp: falcon.Response, user_id: int, action: str
    ) -> None:
        principal = self._admin(req, resp)
        if principal is None:
            return
        fields = form_fields(req)
        try:
            with session_scope(self._sessions) as session:
                user = session.get(User, user_id)
                if user is None or action not in ("disable", "enable", "password"):
                    raise falcon.HTTPNotFound()
                email = user.email
                if action == "disable":
                    if user.id == principal.id:
                        raise accounts.AccountError("you cannot disable your own account")
                    accounts.disable_user(session, email)
                elif action == "enable":
                    accounts.enable_user(session, email)
                else:
                    accounts.set_password(session, email, fields.get("password", ""))
        except accounts.AccountError as error:
            self.show(req, resp, principal, error=f"{email}: {error}.", status=falcon.HTTP_422)
            return
        done = {"disable": "disabled", "enable": "enabled", "password": "password"}[action]
        see_other(req, resp, f"/users?done={done}&who={falcon.uri.encode_value(email)}")

    def _admin(self, req: falcon.Request, resp: falcon.Response) -> Principal | None:
        """Return the admin looking at the page; others get the not-found page (and None)."""
        principal = self._viewer.require(req)
        if principal.is_admin:
            return principal
        self._viewer.page(req, resp, principal, "users", "missing.html", status=falcon.HTTP_404)
        return None

    def show(
        self, req, resp, principal: Principal, *, notice=None, error=None, form=None, status=None
    ):
        """Render the users page with an optional notice, error and the create form's values."""
        with session_scope(self._sessions) as session:
            users = accounts.list_users(session)
            session.expunge_all()
        self._viewer.page(
            req,
            resp,
            principal,
            "users",
            "users.html",
            status=status or falcon.HTTP_200,
            users=users,
            notice=notice,
            error=error,
            form=form or {},
        )
