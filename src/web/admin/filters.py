"""Read the admin job list's filter, sort and page from a query string, and apply them to SQL.

The same `JobFilter` drives the page, its JSON and the bulk retry, so "retry every failed job
that matches" retries exactly the jobs the admin is looking at. A bad value is a 400 problem
naming the parameter.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from urllib.parse import urlencode

import falcon
from sqlalchemy import Select

from core.models import Job, User
from core.states import JobState
from web.errors import Problem

SORTS = {
    "created": Job.created_at,
    "updated": Job.updated_at,
    "finished": Job.finished_at,
    "state": Job.state,
    "user": User.email,
    "attempts": Job.attempts,
}
PAGE_SIZES = (25, 50, 100)


@dataclasses.dataclass(frozen=True)
class JobFilter:
    """Which jobs, in which order, which page."""

    state: str | None = None
    user: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    error: str | None = None
    sort: str = "-created"
    page: int = 1
    per_page: int = 25

    @classmethod
    def from_request(cls, req: falcon.Request) -> JobFilter:
        """Read the filter from `req`'s query string (or an urlencoded form's fields)."""
        state = req.get_param("state") or None
        if state is not None and state not in {s.value for s in JobState}:
            raise _bad("state", f"one of {', '.join(s.value for s in JobState)}")
        sort = req.get_param("sort") or "-created"
        if sort.lstrip("-") not in SORTS:
            raise _bad("sort", f"one of {', '.join(SORTS)}, optionally after a minus sign")
        per_page = _int(req, "per_page", 25)
        if per_page not in PAGE_SIZES:
            raise _bad("per_page", f"one of {', '.join(map(str, PAGE_SIZES))}")
        return cls(
            state=state,
            user=(req.get_param("user") or "").strip() or None,
            since=_moment(req, "since"),
            until=_moment(req, "until"),
            error=(req.get_param("error") or "").strip() or None,
            sort=sort,
            page=_int(req, "page", 1),
            per_page=per_page,
        )

    def apply(self, query: Select) -> Select:
        """Add the filter's conditions to `query` (which joins users)."""
        if self.state:
            query = query.where(Job.state == self.state)
        if self.user:
            query = query.where(User.email.contains(self.user, autoescape=True))
        if self.since:
            query = query.where(Job.created_at >= self.since)
        if self.until:
            query = query.where(Job.created_at < self.until)
        if self.error:
            query = query.where(Job.reason.contains(self.error, autoescape=True))
        return query

    def paged(self, query: Select) -> Select:
        """Add the sort order and the page's limit and offset to `query`."""
        column = SORTS[self.sort.lstrip("-")]
        order = column.desc() if self.sort.startswith("-") else column.asc()
        offset = (self.page - 1) * self.per_page
        return query.order_by(order, Job.id.desc()).limit(self.per_page).offset(offset)

    def query_string(self, **changes) -> str:
        """Return the filter as a query string, with some values changed (links to pages)."""
        values = dataclasses.asdict(dataclasses.replace(self, **changes))
        return urlencode(
            {
                name: value.strftime("%Y-%m-%dT%H:%M") if isinstance(value, dt.datetime) else value
                for name, value in values.items()
                if value not in (None, "")
            }
        )


def _int(req: falcon.Request, name: str, default: int) -> int:
    try:
        return req.get_param_as_int(name, default=default, min_value=1, max_value=1_000_000)
    except falcon.HTTPInvalidParam:
        raise _bad(name, "a whole number of at least 1") from None


def _moment(req: falcon.Request, name: str) -> dt.datetime | None:
    value = req.get_param(name)
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(name, "a date and time such as 2026-11-29T10:00 (UTC)") from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _bad(name: str, expected: str) -> Problem:
    return Problem(falcon.HTTP_400, f"query parameter {name} must be {expected}")
