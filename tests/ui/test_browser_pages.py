"""In a real browser: sign in with the keyboard, sign out for good, refuse another site's form,
and every page passes axe-core, fits a 375 px screen, in light and dark, with a screenshot."""

from __future__ import annotations

import http.server
import threading

import pytest
from playwright.sync_api import expect

from media import make_clip
from testservices import free_port
from ui.conftest import PASSWORD, axe_violations, sign_in

TIMEOUT_MS = 60_000


def test_signing_in_with_the_keyboard_alone(new_page, service, errors):
    page = new_page()
    page.goto("/")
    expect(page).to_have_url(f"{service.url}/sign-in?next=/")
    expect(page.get_by_label("E-mail address")).to_be_focused()
    page.keyboard.type(service.admin)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Your jobs")).to_be_visible()
    # The skip link is the first stop and takes the focus to the page's content.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    assert errors == []


def test_a_wrong_password_says_so(new_page, service):
    page = new_page()
    sign_in_page = page.goto("/sign-in")
    assert sign_in_page.status == 200
    page.get_by_label("E-mail address").fill(service.admin)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong e-mail address or password.")


def test_after_signing_out_the_back_button_shows_the_sign_in_page(new_page, service):
    page = new_page()
    sign_in(page, service.create_user())
    page.get_by_role("link", name="Account").click()
    expect(page.get_by_role("heading", name="Account")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.go_back()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text("Signed in as")).to_have_count(0)
    assert page.request.get("/jobs").status == 401


@pytest.fixture
def other_site(service):
    """Serve, from another origin, a page whose form posts to the service's users page."""
    page = f"""<!doctype html><html lang="en"><title>Win a prize</title>
<form method="post" action="{service.url}/users">
<input name="email" value="intruder@example.com" aria-label="e-mail">
<input name="password" value="intruder password" aria-label="password">
<input name="is_admin" value="on" aria-label="admin">
<button type="submit">Claim your prize</button></form></html>""".encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


def test_a_form_post_from_another_site_is_refused(new_page, service, other_site):
    page = new_page()
    sign_in(page, service.admin)
    page.goto(other_site)
    with page.expect_response(f"{service.url}/users") as posted:
        page.get_by_role("button", name="Claim your prize").click()
    response = posted.value
    assert response.status == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"].startswith("cross-site request refused")
    page.goto("/users")
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    expect(page.get_by_text("intruder@example.com")).to_have_count(0)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_passes_axe_and_fits_a_phone(new_page, service, tmp_path, screenshots, scheme):
    page = new_page(bypass_csp=True, color_scheme=scheme)  # axe is injected as a script
    email = service.create_user(admin=True)
    clip = make_clip(tmp_path / "holiday.mp4", seconds=1)

    def visit(name: str, ready) -> None:
        ready()
        page.wait_for_load_state("load")
        assert axe_violations(page) == [], f"{name} ({scheme})"
        for width, height in ((1280, 800), (375, 740)):
            page.set_viewport_size({"width": width, "height": height})
            page.screenshot(path=screenshots / f"{name}-{scheme}-{width}.png", full_page=True)
            overflow = page.evaluate("document.documentElement.scrollWidth")
            assert overflow <= width, f"{name} is {overflow}px wide on a {width}px screen"
        page.set_viewport_size({"width": 1280, "height": 800})

    heading = page.get_by_role("heading", level=1)
    visit("sign-in", lambda: page.goto("/sign-in"))
    sign_in(page, email)
    visit("jobs-empty", lambda: expect(page.get_by_text("No jobs yet")).to_be_visible())
    page.goto("/convert")
    page.get_by_label("Choose videos…").set_input_files(str(clip))
    visit(
        "convert",
        lambda: expect(page.get_by_role("link", name="Download MP3 of holiday.mp4")).to_be_visible(
            timeout=TIMEOUT_MS
        ),
    )
    page.get_by_role("link", name="Details of holiday.mp4").click()
    visit("job", lambda: expect(heading).to_have_text("holiday.mp4"))
    page.get_by_role("link", name="Jobs").click()
    visit(
        "jobs",
        lambda: expect(page.get_by_role("link", name="holiday.mp4", exact=True)).to_be_visible(),
    )
    visit("account", lambda: page.get_by_role("link", name="Account").click())
    visit("users", lambda: page.get_by_role("link", name="Users").click())
    visit("not-found", lambda: page.goto("/job/0123456789abcdef0123456789abcdef"))
    expect(heading).to_have_text("Not found")
