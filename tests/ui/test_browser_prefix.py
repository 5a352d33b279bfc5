"""Under a path prefix behind Debian's nginx, in a real browser: sign in, convert, play, the
admin pages and Swagger UI, with every request the pages make staying under the prefix.

nginx runs the shipped deploy/nginx/nginx.conf with its `location /` replaced by the two
set-ups the README describes: `/vid2mp3/` passes the prefix on to an app with
`ROOT_PATH=/vid2mp3`; `/alt/` strips it and says it in `X-Forwarded-Prefix`, which the app
believes because nginx's address is in `TRUSTED_PROXIES`.
"""

from __future__ import annotations

import re
import subprocess

import pytest
import requests
from playwright.sync_api import expect

from media import make_clip
from nginx import LOCATION, running_nginx
from testservices import free_port
from ui.conftest import PASSWORD, VID2MP3, WAIT_MS, running_service

PREFIX = "/vid2mp3"
LOCATIONS = """        location /vid2mp3/ {
            proxy_pass http://vid2mp3;
        }

        location /alt/ {
            proxy_pass http://vid2mp3/;
            # A location's own proxy_set_header replaces the server's: repeat them.
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Prefix /alt;
        }
"""
CONVERT_MS = 90_000


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    """Yield (nginx's URL, the service) for the embedded service under /vid2mp3 behind nginx."""
    web_port = free_port()
    folder = tmp_path_factory.mktemp("nginx")
    with (
        running_nginx(web_port, folder, (LOCATION, LOCATIONS)) as proxy,
        running_service(
            tmp_path_factory.mktemp("embedded"),
            web_port,
            ROOT_PATH=PREFIX,
            PUBLIC_URL=proxy + PREFIX,
            TRUSTED_PROXIES="127.0.0.1",
        ) as service,
    ):
        yield proxy, service


@pytest.fixture
def page(chromium, proxied, errors):
    """A page whose every request URL is recorded in `page.seen`."""
    proxy, _ = proxied
    context = chromium.new_context(base_url=proxy, accept_downloads=True)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.seen = []
    page.on("request", lambda request: page.seen.append(request.url))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()


def test_sign_in_convert_admin_and_docs_all_stay_under_the_prefix(page, proxied, errors, tmp_path):
    proxy, service = proxied
    base = proxy + PREFIX
    clip = make_clip(tmp_path / "prefix clip.mp4", seconds=2)

    page.goto(f"{base}/admin/jobs")
    assert page.url == f"{base}/sign-in?next=/admin/jobs"
    page.get_by_label("E-mail address").fill(service.admin)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="All jobs")).to_be_visible()
    assert page.url == f"{base}/admin/jobs"

    page.get_by_role("link", name="Convert", exact=True).click()
    page.get_by_label("Choose videos…").set_input_files(str(clip))
    download = page.get_by_role("link", name="Download MP3 of prefix clip.mp4")
    expect(download).to_be_visible(timeout=CONVERT_MS)
    assert download.get_attribute("href").startswith(f"{PREFIX}/jobs/")
    page.get_by_role("link", name="Details of prefix clip.mp4").click()
    player = page.get_by_label("Player for prefix clip.mp4", exact=True)
    player.evaluate(
        "audio => audio.readyState >= 1 || new Promise(r => audio.onloadedmetadata = r)"
    )
    assert player.evaluate("audio => audio.duration") == pytest.approx(2.0, abs=0.2)

    page.get_by_role("link", name="Jobs", exact=True).click()
    expect(page.get_by_role("button", name="Play prefix clip.mp4")).to_be_visible()
    page.get_by_role("link", name="Admin", exact=True).click()
    expect(page.get_by_role("heading", name="Jobs by state")).to_be_visible()
    page.get_by_role("link", name="Workers", exact=True).click()
    expect(page.get_by_role("heading", name="Worker processes")).to_be_visible()
    page.get_by_role("link", name="All jobs", exact=True).click()
    page.get_by_role("link", name="prefix clip.mp4").click()
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()

    page.goto(f"{base}/apidocs/")
    assert page.url == f"{base}/docs"
    expect(page.get_by_role("heading", name=re.compile("vid2mp3"))).to_be_visible()
    expect(page.locator(".opblock").first).to_be_visible()
    # Swagger UI sends "Try it out" calls to the document's server: the prefix.
    assert page.locator(".servers select option").first.text_content() == PREFIX

    page.goto(f"{base}/account")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.url == f"{base}/sign-in"

    escaped = [url for url in page.seen if not url.startswith(base + "/")]
    assert escaped == []
    assert any("/assets/" in url for url in page.seen)
    assert any("/docs/static/swagger-ui-bundle.js" in url for url in page.seen)
    assert errors == []


def test_a_proxy_that_strips_the_prefix_says_it_in_a_forwarded_header(proxied):
    proxy, _ = proxied
    answer = requests.get(f"{proxy}/alt/", allow_redirects=False, timeout=30)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/alt/sign-in?next=/"
    page = requests.get(f"{proxy}/alt/sign-in", timeout=30)
    assert page.status_code == 200
    urls = re.findall(r'(?:href|src|action)="(/[^"]*)"', page.text)
    assert urls and all(url.startswith("/alt/") for url in urls), urls
    asset = next(url for url in urls if "/assets/" in url)
    assert requests.get(proxy + asset, timeout=30).status_code == 200
    cookie = next(c for c in page.cookies if c.name == "vid2mp3_sign_in")
    assert cookie.path == "/alt"
    assert requests.get(f"{proxy}/alt/openapi.json", timeout=30).json()["servers"] == [
        {"url": "/alt"}
    ]


def test_the_command_line_client_submits_under_the_prefix(proxied, tmp_path):
    proxy, service = proxied
    clip = make_clip(tmp_path / "cli clip.mp4", seconds=1)
    mp3 = tmp_path / "cli clip.mp3"
    submitted = subprocess.run(
        [VID2MP3, "submit", str(clip), "--url", proxy + PREFIX, "--user", service.admin]
        + ["-o", str(mp3)],
        env={**service.env, "VID2MP3_PASSWORD": PASSWORD},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CONVERT_MS / 1000,
        check=False,
    )
    assert submitted.returncode == 0, submitted.stderr
    assert mp3.stat().st_size > 1000
