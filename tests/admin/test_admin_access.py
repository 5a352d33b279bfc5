"""Every /admin route is a 404 for anyone but an admin signed in with a password."""

from __future__ import annotations

import falcon.inspect
import pytest

from cookies import Browser
from core import access_tokens
from core.db import session_scope
from core.models import User
from testservices import TEST_PASSWORD

SAMPLE = {"job_id": "0" * 32, "action": "retry", "queue": "video"}


def admin_routes(app) -> list[tuple[str, str]]:
    """Return (method, path) for every route under /admin, parameters filled in, and the sink."""
    found = [("GET", "/admin/tasks"), ("POST", "/admin/tasks/requeue-message")]
    for route in falcon.inspect.inspect_routes(app):
        if not route.path.startswith("/admin"):
            continue
        path = route.path
        for name, value in SAMPLE.items():
            path = path.replace(f"{{{name}:uuid}}", value).replace(f"{{{name}}}", value)
        for method in route.methods:
            if method.method not in ("OPTIONS",) and not method.internal:
                found.append((method.method, path))
    return found


def test_the_routes_are_found(client):
    routes = admin_routes(client.app)
    assert ("GET", "/admin") in routes
    assert ("GET", "/admin/api/overview") in routes
    assert ("DELETE", f"/admin/api/jobs/{SAMPLE['job_id']}") in routes
    assert len(routes) >= 18


def test_a_user_gets_404_everywhere_with_a_token(client, bearer, make_user):
    headers = bearer(make_user())
    for method, path in admin_routes(client.app):
        result = client.simulate_request(method, path, headers=headers)
        assert result.status_code == 404, (method, path, result.status)


def test_a_user_gets_404_everywhere_with_the_browser(client, make_user):
    user = make_user()
    browser = Browser(client)
    browser.sign_in(user.email, TEST_PASSWORD)
    csrf = browser.csrf()
    for method, path in admin_routes(client.app):
        result = browser.request(
            method,
            path,
            headers={"Origin": "http://testserver", "X-CSRF-Token": csrf},
        )
        assert result.status_code == 404, (method, path, result.status)
        if method == "GET" and not path.startswith("/admin/api"):
            assert "text/html" in result.headers["content-type"]


def test_an_admins_personal_token_has_no_admin_powers(client, admin, sessions):
    with session_scope(sessions) as session:
        user = session.get(User, admin.id)
        _, token = access_tokens.create_token(session, user, "script", ["read"])
    headers = {"Authorization": f"Bearer {token}"}
    for method, path in admin_routes(client.app):
        if path.startswith("/admin/api"):
            result = client.simulate_request(method, path, headers=headers)
            assert result.status_code == 404, (method, path, result.status)


@pytest.mark.parametrize("path", ["/admin", "/admin/jobs", "/admin/workers", "/admin/tasks"])
def test_an_admin_sees_the_pages(client, admin, path):
    browser = Browser(client)
    browser.sign_in(admin.email, TEST_PASSWORD)
    result = browser.get(path)
    assert result.status_code == 200, result.text
    assert 'aria-label="Admin"' in result.text


def test_the_tasks_page_says_why_there_is_no_dashboard_off_redis(client, admin):
    browser = Browser(client)
    browser.sign_in(admin.email, TEST_PASSWORD)
    page = browser.get("/admin/tasks").text
    assert "the in-process broker" in page
    assert 'href="/admin"' in page
