"""Serve the app behind a reverse proxy: under a path prefix, with forwarded headers believed
only from trusted proxies.

`ProxyFix` is WSGI middleware around the Falcon app. The prefix (the `ROOT_PATH` setting, or
the `X-Forwarded-Prefix` a trusted proxy sends) becomes the WSGI `SCRIPT_NAME`, which Falcon
gives as `req.root_path`; every link, redirect, cookie path and asset URL the app makes starts
with it (`web.links`). The proxy may pass the prefix on (nginx `proxy_pass http://web;`) or
strip it (`proxy_pass http://web/;`): a path that starts with the prefix loses it, any other is
taken as already stripped. A server that has already set `SCRIPT_NAME` (gunicorn does from
its environment variable of that name) is left as it is.

`X-Forwarded-For`, `-Proto`, `-Host` and `-Prefix` count only when the peer's address is in
`TRUSTED_PROXIES`; from anyone else they are removed before the app sees them, so a client can
neither make the app write links to another host nor dodge the login throttle with a made-up
address. Of a comma-separated list the proxy's own (rightmost) entry counts, and the client's
address is the rightmost one in `X-Forwarded-For` that is not itself a trusted proxy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable

from core.settings import ROOT_PATH_PATTERN

_FORWARDED = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST")
_PREFIX = "HTTP_X_FORWARDED_PREFIX"


class ProxyFix:
    """Wrap `app` so it runs under `root_path` and believes the proxies in `trusted`."""

    def __init__(self, app: Callable, root_path: str = "", trusted: Iterable[str] = ()) -> None:
        self.app = app
        self._root = root_path.rstrip("/")
        trusted = tuple(trusted)
        self._anyone = "*" in trusted
        self._networks = tuple(
            ipaddress.ip_network(item, strict=False) for item in trusted if item != "*"
        )

    def __call__(self, environ: dict, start_response: Callable):
        root = self._root
        if self._trusts(environ.get("REMOTE_ADDR", "")):
            root = self._believe(environ, root)
        else:
            for name in (*_FORWARDED, _PREFIX):
                environ.pop(name, None)
        if root and not environ.get("SCRIPT_NAME"):
            path = environ.get("PATH_INFO", "")
            if path == root or path.startswith(root + "/"):
                path = path[len(root) :]
            environ["SCRIPT_NAME"] = root
            environ["PATH_INFO"] = path or "/"
        return self.app(environ, start_response)

    def _trusts(self, address: str) -> bool:
        if self._anyone:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def _believe(self, environ: dict, root: str) -> str:
        """Apply a trusted proxy's headers to `environ`; return the prefix to serve under."""
        addresses = _values(environ.get("HTTP_X_FORWARDED_FOR"))
        while addresses and self._trusts(addresses[-1]) and len(addresses) > 1:
            addresses.pop()
        if addresses:
            environ["REMOTE_ADDR"] = addresses[-1]
        proto = _last(environ.get("HTTP_X_FORWARDED_PROTO"))
        if proto in ("http", "https"):
            environ["wsgi.url_scheme"] = proto
        host = _last(environ.get("HTTP_X_FORWARDED_HOST"))
        if host:
            environ["HTTP_HOST"] = host
        prefix = _last(environ.get(_PREFIX))
        if prefix is not None:
            prefix = prefix.rstrip("/")
            if not prefix or ROOT_PATH_PATTERN.fullmatch(prefix):
                root = prefix
        return root


def _values(header: str | None) -> list[str]:
    return [value.strip() for value in (header or "").split(",") if value.strip()]


def _last(header: str | None) -> str | None:
    values = _values(header)
    return values[-1] if values else None
