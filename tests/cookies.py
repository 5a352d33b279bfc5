"""A cookie-keeping browser over Falcon's test client, for the web UI's form and session tests."""

from __future__ import annotations

import re
from urllib.parse import urlencode

ORIGIN = "http://testserver"  # the PUBLIC_URL of the test settings
_FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_META_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


class Browser:
    """Send requests as one browser: keep the cookies the app sets, post forms like a page."""

    def __init__(self, client) -> None:
        self.client = client
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, **kwargs):
        result = self.client.simulate_request(method, path, cookies=dict(self.cookies), **kwargs)
        for name, cookie in result.cookies.items():
            if cookie.value and cookie.max_age != 0:
                self.cookies[name] = cookie.value
            else:
                self.cookies.pop(name, None)
        return result

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post_form(self, path: str, fields: dict[str, str], *, origin: str | None = ORIGIN):
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if origin is not None:
            headers["Origin"] = origin
        return self.request("POST", path, body=urlencode(fields), headers=headers)

    def sign_in(self, email: str, password: str):
        """Fill in and send the sign-in form; return the response to the post."""
        token = form_token(self.get("/sign-in").text)
        return self.post_form(
            "/sign-in", {"csrf_token": token, "email": email, "password": password}
        )

    def csrf(self) -> str:
        """Return the CSRF token a signed-in page hands to its scripts."""
        page = self.get("/account")
        assert page.status_code == 200, page.status
        return _META_TOKEN.search(page.text).group(1)


def form_token(html: str) -> str:
    """Return the hidden csrf_token of the first form in `html`."""
    return _FORM_TOKEN.search(html).group(1)
