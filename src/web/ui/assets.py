"""Serve the UI's static files (CSS, ES modules, icons) from the package, with ETags.

The files are read once at start-up. Pages link them with a version query (`?v=` and the
first characters of the ETag), and such a versioned request may be cached for a year; any
other request (an ES module imported by another, an old version) must revalidate, which costs
a 304 without a body.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import falcon

from web.errors import not_found

STATIC = Path(__file__).parent / "static"
_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".png": "image/png",
}
_VERSION_LENGTH = 12
_FOREVER = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"


@dataclasses.dataclass(frozen=True)
class Asset:
    """One static file in memory."""

    body: bytes
    content_type: str
    etag: str  # without quotes, as falcon.ETag compares

    @property
    def version(self) -> str:
        """Return the short version string pages put in the asset's URL."""
        return self.etag[:_VERSION_LENGTH]


class Assets:
    """The static files by name; `url(name)` is what templates link."""

    def __init__(self, folder: Path = STATIC) -> None:
        self._files: dict[str, Asset] = {}
        # Vendored packages keep their own folders (vendor/<package>/), so names may have slashes.
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix in _TYPES:
                body = path.read_bytes()
                etag = hashlib.sha256(body).hexdigest()[:32]
                name = path.relative_to(folder).as_posix()
                self._files[name] = Asset(body, _TYPES[path.suffix], etag)

    def get(self, name: str) -> Asset | None:
        """Return the asset called `name`, or None."""
        return self._files.get(name)

    def url(self, name: str) -> str:
        """Return the versioned URL of a static file (raises KeyError for an unknown one)."""
        return f"/assets/{name}?v={self._files[name].version}"


class AssetResource:
    """`GET /assets/{name}`: a static file with ETag, Cache-Control and If-None-Match."""

    auth_required = False

    def __init__(self, assets: Assets) -> None:
        self._assets = assets

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        asset = self._assets.get(name)
        if asset is None:
            raise not_found("file")
        versioned = req.get_param("v") == asset.version
        resp.set_header("Cache-Control", _FOREVER if versioned else _REVALIDATE)
        resp.set_header("ETag", f'"{asset.etag}"')
        resp.set_header("X-Content-Type-Options", "nosniff")
        if any(tag in ("*", asset.etag) for tag in req.if_none_match or ()):
            resp.status = falcon.HTTP_304
            return
        resp.content_type = asset.content_type
        resp.data = asset.body

    on_head = on_get
