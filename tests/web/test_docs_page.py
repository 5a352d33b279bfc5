"""Swagger UI at /docs: local assets only, a strict CSP it runs under, /apidocs redirects there."""

from __future__ import annotations

import re
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from testservices import unavailable


def test_docs_page_loads_only_local_files_under_a_strict_policy(client):
    result = client.simulate_get("/docs")
    assert result.status_code == 200
    assert result.headers["content-type"].startswith("text/html")
    policy = result.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert "unsafe" not in policy and "http" not in policy
    page = result.text
    assert "http://" not in page and "https://" not in page
    # Every script is a file: no inline script for the policy to forbid.
    assert re.findall(r"<script[^>]*>\s*[^<\s]", page) == []
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/docs/static/swagger-ui-bundle.js" in urls
    for url in urls:
        asset = client.simulate_get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url


def test_the_initializer_uses_our_document_and_no_validator_site(client):
    script = client.simulate_get("/docs/swagger-initializer.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert 'url: root + "/openapi.json"' in script.text
    assert "validatorUrl: null" in script.text


@pytest.mark.parametrize("path", ["/apidocs", "/apidocs/"])
def test_the_original_docs_path_redirects_to_docs(client, path):
    result = client.simulate_get(path)
    assert result.status_code == 301
    assert result.headers["location"] == "/docs"


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def served_app(make_client):
    server = make_server("127.0.0.1", 0, make_client().app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def browser():
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    if not Path("/usr/bin/chromium").exists():
        unavailable("chromium", "/usr/bin/chromium is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
        )
        yield browser
        browser.close()


def test_swagger_ui_renders_every_operation_in_chromium(browser, served_app, client):
    operations = sum(
        key != "parameters"
        for item in client.simulate_get("/openapi.json").json["paths"].values()
        for key in item
    )
    page = browser.new_page()
    requested, complaints = [], []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: complaints.append(message.text))
    page.on("pageerror", lambda error: complaints.append(str(error)))
    page.goto(f"{served_app}/docs")
    page.wait_for_selector(".opblock", timeout=15_000)
    assert page.locator(".opblock").count() == operations
    # Swagger UI lists what it finds wrong with a document in an errors box.
    assert page.locator(".errors-wrapper").count() == 0
    assert page.locator(".information-container .title").inner_text().startswith("vid2mp3")
    assert [url for url in requested if not url.startswith(served_app)] == []
    assert f"{served_app}/openapi.json" in requested
    assert [text for text in complaints if "Content Security Policy" in text] == []
