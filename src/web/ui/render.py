"""Render the UI's pages with Jinja2 and give every page its security headers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import falcon
import jinja2

from web.ui.assets import Assets

TEMPLATES = Path(__file__).parent / "templates"

# No inline script or style anywhere: every script and style sheet is a file under /assets.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Pages show a user's own data: never cached, so Back after signing out asks the server.
    "Cache-Control": "no-store",
}


class Renderer:
    """Turn a template and its context into an HTML response."""

    def __init__(self, assets: Assets) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.globals["asset"] = _asset_url(assets)
        self._env.filters.update(
            size=human_size, clock=clock, when=when, span=span, container=container
        )

    def page(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        template: str,
        *,
        status: str = falcon.HTTP_200,
        **context,
    ) -> None:
        """Render `template` into `resp` with the page headers.

        Templates get `root`, the app's root path, and write every link as `{{ root }}/path`
        (`asset('name')` for static files), so pages work under a proxy's path prefix.
        """
        resp.status = status
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self._env.get_template(template).render(root=req.root_path, **context)
        for name, value in PAGE_HEADERS.items():
            resp.set_header(name, value)


def _asset_url(assets: Assets):
    @jinja2.pass_context
    def asset(context: jinja2.runtime.Context, name: str) -> str:
        return context["root"] + assets.url(name)

    return asset


def human_size(size: int | None) -> str:
    """Return a byte count as people read it: 1.4 MB, 830 kB, 12 bytes."""
    if size is None:
        return "—"
    if size < 1000:
        return f"{size} bytes"
    for unit in ("kB", "MB", "GB", "TB"):
        size /= 1000
        if size < 1000 or unit == "TB":
            return f"{size:.1f} {unit}" if size < 100 else f"{size:.0f} {unit}"
    raise AssertionError("unreachable")


_CONTAINERS = {
    "mov,mp4,m4a,3gp,3g2,mj2": "MP4 / QuickTime",
    "matroska,webm": "Matroska / WebM",
    "avi": "AVI",
    "flv": "Flash video",
    "asf": "Windows Media",
    "mpegts": "MPEG transport stream",
    "mpeg": "MPEG program stream",
    "ogg": "Ogg",
    "wav": "WAV",
    "mp3": "MP3",
}


def container(name: str | None) -> str:
    """Return a readable name for an ffmpeg demuxer name such as `mov,mp4,m4a,3gp,3g2,mj2`."""
    if not name:
        return "—"
    return _CONTAINERS.get(name, name.split(",")[0].upper())


def clock(seconds: float | None) -> str:
    """Return a duration as m:ss.t (or h:mm:ss): what a player shows."""
    if seconds is None:
        return "—"
    minutes, rest = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    if hours:
        return f"{hours}:{minutes:02d}:{int(rest):02d}"
    return f"{minutes}:{rest:04.1f}"


def when(moment: dt.datetime | None) -> str:
    """Return a moment in UTC to the second."""
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def span(start: dt.datetime | None, end: dt.datetime | None) -> str:
    """Return the time between two moments, or a dash when either is missing."""
    if start is None or end is None:
        return "—"
    seconds = max(0.0, (end - start).total_seconds())
    return f"{seconds:.1f} s" if seconds < 60 else clock(seconds)
