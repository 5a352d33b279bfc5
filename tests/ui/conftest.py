"""Browser-test fixtures: the embedded service as a real server, Debian's headless Chromium.

`vid2mp3 run` runs in a subprocess with its state in a temporary DATA_DIR, so uploads really
convert (its in-process worker). Chromium comes from Debian (`bin/ensure-services` installs it);
Playwright drives it without downloading a browser. A missing Chromium skips these tests on a
laptop and fails them under CI=true.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from chromium import CHROMIUM, launch
from testservices import free_port, unavailable, wait_for_port

VID2MP3 = str(Path(sys.executable).parent / "vid2mp3")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PASSWORD = "a long test password"
# A page or a sign-in (argon2) may take seconds on a busy two-core machine: wait, don't fail.
WAIT_MS = 30_000
expect.set_options(timeout=WAIT_MS)


class Service:
    """The running embedded service: its URL and a way to add accounts."""

    def __init__(self, url: str, env: dict[str, str], admin: str) -> None:
        self.url = url
        self.env = env
        self.admin = admin

    @property
    def data_dir(self) -> Path:
        """Return the service's DATA_DIR (its blobs are in the `blobs` folder there)."""
        return Path(self.env["DATA_DIR"])

    def create_user(self, *, admin: bool = False) -> str:
        """Create an account with PASSWORD through the command line; return its e-mail."""
        email = f"user-{uuid.uuid4().hex[:8]}@example.com"
        subprocess.run(
            [VID2MP3, "users", "create", email, "--password-stdin"]
            + (["--admin"] if admin else []),
            input=PASSWORD + "\n",
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return email


@contextlib.contextmanager
def running_service(data_dir: Path, port: int, **extra_env: str) -> Iterator[Service]:
    """Run `vid2mp3 run` on `port` with its state in `data_dir` (and `extra_env` set)."""
    url = f"http://127.0.0.1:{port}"
    admin = "admin@example.com"
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "PUBLIC_URL": url,
        "ADMIN_EMAIL": admin,
        "ADMIN_PASSWORD": PASSWORD,
        "LOG_LEVEL": "WARNING",
    }
    for name in ("DATABASE_URL", "STORAGE_URL", "BROKER_URL", "SMTP_URL", "JWT_SECRET"):
        env.pop(name, None)
    env.update(extra_env)
    # Its output goes to a file: a pipe nobody reads until the end would stop the service (every
    # thread that logs) once its buffer is full.
    log = data_dir / "vid2mp3-run.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [VID2MP3, "run", "--port", str(port)], env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port(port, timeout=60)
        yield Service(url, env, admin)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        text = log.read_text(errors="replace")
        print(f"--- vid2mp3 run (exit {process.returncode}) ---\n{text}")


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """Run `vid2mp3 run` on a free port for the module's tests."""
    with running_service(tmp_path_factory.mktemp("embedded"), free_port()) as running:
        yield running


@pytest.fixture(scope="module")
def chromium():
    """Launch Debian's Chromium headless through Playwright."""
    if not os.access(CHROMIUM, os.X_OK):
        unavailable("Chromium", f"{CHROMIUM} is missing (bin/ensure-services installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    """Return the folder of this run's screenshots (one per page and colour scheme)."""
    return tmp_path_factory.getbasetemp() / "screenshots"


@pytest.fixture
def errors():
    """Collect what the pages log as errors (a CSP violation is one); the test asserts none."""
    return []


@pytest.fixture
def new_page(chromium, service, errors):
    """Open pages in fresh browser contexts (separate cookies), closed after the test."""
    contexts = []

    def open_page(**options):
        context = chromium.new_context(base_url=service.url, **options)
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    yield open_page
    for context in contexts:
        context.close()


def sign_in(page, email: str, password: str = PASSWORD) -> None:
    """Sign in through the form, as a person would."""
    page.goto("/sign-in")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Jobs").wait_for()


def axe_violations(page) -> list[str]:
    """Run axe-core on the page; return its serious and critical violations."""
    page.add_script_tag(path=str(AXE))
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{item['id']} ({item['impact']}): {item['help']} at {node['target']}"
        for item in results["violations"]
        if item["impact"] in ("serious", "critical")
        for node in item["nodes"]
    ]
