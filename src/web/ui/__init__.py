"""The web UI: server-rendered pages (Jinja2) with a little JavaScript in local ES modules.

Screens: sign-in (`/sign-in`), jobs (`/`), convert (`/convert`, upload with progress), one job
(`/job/{id}`), account (`/account`) and, for admins, users (`/users`). The pages call the same
JSON API as any client, authenticated by the browser's session cookie plus a CSRF token
(`web.browser`). Everything they load (styles, scripts, icons) is served from this package.

Path prefix: the app may run under a proxy's prefix (`web.proxy`), so no page or script writes
an absolute path as it is. Templates write `{{ root }}/path` (`root` is `req.root_path`, given
to every page by `Renderer.page`) and `{{ asset('name') }}` for static files; Python builds
redirects and links with `web.links`. Scripts read the root path from the page's
`<meta name="root-path">` through `url(path)` in static/api.js (`here()` gives the current
page's app-relative path), and follow the `links` the JSON API gives, which already carry it.
"""

from __future__ import annotations

import falcon

from core.settings import Settings
from web.auth import AuthMiddleware
from web.browser import BrowserSession
from web.ui.assets import AssetResource, Assets
from web.ui.pages import ConvertPage, JobPage, JobsPage
from web.ui.people import AccountPage, UsersPage
from web.ui.render import Renderer
from web.ui.sample import SampleResource
from web.ui.signin import SignInPage, SignOutResource
from web.ui.viewer import Viewer


def install(
    app: falcon.App, settings: Settings, sessions, auth: AuthMiddleware, browser: BrowserSession
) -> Viewer:
    """Add the UI's routes to `app`; return the viewer the admin pages share."""
    assets = Assets()
    renderer = Renderer(assets)
    viewer = Viewer(auth, browser, renderer)
    account = AccountPage(settings, sessions, viewer)
    users = UsersPage(sessions, viewer)
    app.add_route("/assets/{name:path}", AssetResource(assets))
    app.add_route("/sign-in", SignInPage(settings, sessions, browser, renderer, auth))
    app.add_route("/sign-out", SignOutResource(sessions, browser))
    app.add_route("/", JobsPage(viewer))
    app.add_route("/convert", ConvertPage(settings, viewer))
    app.add_route("/job/{job_id:uuid}", JobPage(sessions, viewer))
    app.add_route("/account", account)
    app.add_route("/account/password", account, suffix="password")
    app.add_route("/users", users)
    app.add_route("/users/{user_id:int}/{action}", users, suffix="action")
    app.add_route("/sample.mp4", SampleResource())
    return viewer
