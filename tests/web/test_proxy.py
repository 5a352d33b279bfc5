"""Behind a reverse proxy: the app under a path prefix, forwarded headers only from trusted peers.

The first tests drive `ProxyFix` over a WSGI app that records the environ it is given; the rest
run the whole app under `/vid2mp3` through Falcon's test client and read what leaves it: links,
redirects, cookie paths, the docs page and the OpenAPI document. tests/ui/test_browser_prefix.py
does the same in a real browser behind Debian's nginx.
"""

from __future__ import annotations

import re

import falcon.testing
import pytest

from cookies import Browser, form_token
from core.settings import Settings
from forms import multipart
from media import make_clip
from testservices import TEST_PASSWORD
from web.app import create_app
from web.browser import SESSION_COOKIE
from web.proxy import ProxyFix

PREFIX = "/vid2mp3"


def _seen(fix: ProxyFix, path: str, headers: dict | None = None, **environ) -> dict:
    """Return the environ the wrapped app sees for a request to `path` with `headers`."""
    seen = {}

    def app(env, start_response):
        seen.update(env)
        start_response("204 No Content", [])
        return []

    fix.app = app
    falcon.testing.simulate_get(fix, path, headers=headers, **environ)
    return seen


@pytest.mark.parametrize(
    "path, expected",
    [("/vid2mp3/jobs", "/jobs"), ("/vid2mp3", "/"), ("/jobs", "/jobs"), ("/vid2mp3x", "/vid2mp3x")],
)
def test_the_prefix_moves_to_script_name_whether_or_not_the_proxy_kept_it(path, expected):
    seen = _seen(ProxyFix(None, PREFIX), path)
    assert (seen["SCRIPT_NAME"], seen["PATH_INFO"]) == (PREFIX, expected)


def test_a_script_name_set_by_the_server_is_left_alone():
    seen = _seen(ProxyFix(None, PREFIX), "/jobs", root_path="/mounted")
    assert (seen["SCRIPT_NAME"], seen["PATH_INFO"]) == ("/mounted", "/jobs")


FORWARDED = {
    "X-Forwarded-For": "203.0.113.9, 10.1.2.3",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "media.example.org",
    "X-Forwarded-Prefix": "/tools/mp3/",
}


def test_forwarded_headers_from_an_untrusted_peer_are_dropped():
    seen = _seen(ProxyFix(None, PREFIX, ["10.0.0.0/8"]), "/jobs", FORWARDED, remote_addr="1.2.3.4")
    assert not [name for name in seen if name.startswith("HTTP_X_FORWARDED")]
    assert seen["REMOTE_ADDR"] == "1.2.3.4"
    assert seen["wsgi.url_scheme"] == "http"
    assert seen["SCRIPT_NAME"] == PREFIX


def test_a_trusted_proxy_sets_client_address_scheme_host_and_prefix():
    fix = ProxyFix(None, PREFIX, ["10.0.0.0/8"])
    seen = _seen(fix, "/jobs", FORWARDED, remote_addr="10.9.9.9")
    # 10.1.2.3 is itself a trusted proxy: the client is the address before it.
    assert seen["REMOTE_ADDR"] == "203.0.113.9"
    assert seen["wsgi.url_scheme"] == "https"
    assert seen["HTTP_HOST"] == "media.example.org"
    assert (seen["SCRIPT_NAME"], seen["PATH_INFO"]) == ("/tools/mp3", "/jobs")


@pytest.mark.parametrize("prefix", ["tools", "/a//b", "/a/../b", '/"><script>'])
def test_a_malformed_forwarded_prefix_is_ignored(prefix):
    fix = ProxyFix(None, PREFIX, ["*"])
    seen = _seen(fix, "/jobs", {"X-Forwarded-Prefix": prefix}, remote_addr="1.2.3.4")
    assert seen["SCRIPT_NAME"] == PREFIX


@pytest.fixture
def prefixed(services, enqueued):
    """The whole app under /vid2mp3, as `vid2mp3 serve` wraps it."""
    settings = services.settings.replace(root_path=PREFIX)
    app = create_app(
        settings,
        services.sessions,
        services.store,
        services.tokens,
        enqueue=lambda job_id, step: enqueued.append((job_id, step)),
    )
    return falcon.testing.TestClient(ProxyFix(app, PREFIX))


def _local_urls(html: str) -> list[str]:
    urls = re.findall(r'(?:href|src|action|data-src)="(/[^"]*)"', html)
    return [url for url in urls if not url.startswith("//")]


def _sign_in(client, email: str) -> Browser:
    browser = Browser(client)
    page = browser.get(f"{PREFIX}/sign-in")
    assert page.status_code == 200
    assert all(url.startswith(PREFIX + "/") for url in _local_urls(page.text)), page.text
    assert f'<meta name="root-path" content="{PREFIX}">' in page.text
    result = browser.post_form(
        f"{PREFIX}/sign-in",
        {"csrf_token": form_token(page.text), "email": email, "password": TEST_PASSWORD},
    )
    assert result.status_code == 303, result.text
    assert result.headers["location"] == f"{PREFIX}/"
    assert result.cookies[SESSION_COOKIE].path == PREFIX
    return browser


def test_signed_out_pages_send_to_the_prefixed_sign_in_and_back(prefixed):
    result = prefixed.simulate_get(f"{PREFIX}/admin/jobs", query_string="state=failed")
    assert result.status_code == 303
    assert result.headers["location"] == f"{PREFIX}/sign-in?next=/admin/jobs%3Fstate%3Dfailed"


def test_every_link_of_every_page_keeps_the_prefix(prefixed, make_user):
    browser = _sign_in(prefixed, make_user(is_admin=True).email)
    for path in ("/", "/convert", "/account", "/users", "/admin", "/admin/jobs", "/admin/workers"):
        page = browser.get(PREFIX + path)
        assert page.status_code == 200, path
        urls = _local_urls(page.text)
        assert urls, path
        assert [url for url in urls if not url.startswith(PREFIX + "/")] == [], path
        for url in urls:
            if "/assets/" in url:
                assert browser.get(url).status_code == 200, url


def test_uploads_answer_with_prefixed_links_and_forms_redirect_under_it(
    prefixed, make_user, tmp_path
):
    browser = _sign_in(prefixed, make_user(is_admin=True).email)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', browser.get(f"{PREFIX}/").text)[1]
    clip = make_clip(tmp_path / "clip.mp4", seconds=1)
    body, form_headers = multipart([("file", "clip.mp4", clip.read_bytes())])
    result = browser.request(
        "POST",
        f"{PREFIX}/upload",
        body=body,
        headers={**form_headers, "X-CSRF-Token": csrf, "Origin": "http://testserver"},
    )
    assert result.status_code == 202, result.text
    job = result.json
    assert result.headers["location"] == f"{PREFIX}/jobs/{job['id']}"
    assert job["links"]["self"] == f"{PREFIX}/jobs/{job['id']}"
    listed = browser.get(f"{PREFIX}/jobs").json
    assert listed["items"][0]["links"]["self"].startswith(f"{PREFIX}/jobs/")
    page = browser.get(f"{PREFIX}/admin/jobs/{job['id']}")
    assert page.status_code == 200
    cancel = browser.post_form(f"{PREFIX}/admin/jobs/{job['id']}/cancel", {"csrf_token": csrf})
    assert cancel.status_code == 303
    assert cancel.headers["location"] == f"{PREFIX}/admin/jobs/{job['id']}?done=cancel"
    out = browser.post_form(f"{PREFIX}/sign-out", {"csrf_token": csrf})
    assert out.headers["location"] == f"{PREFIX}/sign-in"
    assert out.cookies[SESSION_COOKIE].path == PREFIX


def test_docs_openapi_and_the_old_docs_path_keep_the_prefix(prefixed):
    docs = prefixed.simulate_get(f"{PREFIX}/docs")
    assert docs.status_code == 200
    urls = _local_urls(docs.text)
    assert f"{PREFIX}/docs/static/swagger-ui-bundle.js" in urls
    for url in urls:
        assert prefixed.simulate_get(url).status_code == 200, url
    assert f'<meta name="root-path" content="{PREFIX}">' in docs.text
    document = prefixed.simulate_get(f"{PREFIX}/openapi.json").json
    assert document["servers"] == [{"url": PREFIX}]
    assert "/jobs" in document["paths"]
    moved = prefixed.simulate_get(f"{PREFIX}/apidocs/")
    assert moved.status_code == 301
    assert moved.headers["location"] == f"{PREFIX}/docs"


def test_at_the_root_nothing_changes(client):
    assert client.simulate_get("/openapi.json").json["servers"] == [{"url": "/"}]
    assert client.simulate_get("/apidocs").headers["location"] == "/docs"


def test_e_mailed_download_links_carry_the_prefix(tmp_path):
    from actors.runtime import Runtime

    settings = Settings.from_env(
        {"DATA_DIR": str(tmp_path), "ROOT_PATH": PREFIX, "PUBLIC_URL": "https://mp3.example.org"}
    )
    link = Runtime(settings).download_url("0" * 32)
    assert link.startswith(f"https://mp3.example.org{PREFIX}/d/")
