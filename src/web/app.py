"""Assemble the Falcon app from its dependencies; nothing here reads the environment."""

from __future__ import annotations

from collections.abc import Callable

import falcon
from sqlalchemy import text

from core.db import check_schema
from core.settings import Settings
from core.sso import OidcClient
from core.storage import BlobStore
from core.tokens import TokenService
from web import docs, errors
from web.admin import install as install_admin
from web.admin.service import AdminService
from web.auth import AuthMiddleware
from web.browser import BrowserSession
from web.finished_jobs import FinishedJobs
from web.metrics import MetricsMiddleware, MetricsResource
from web.resources.account_tokens import AccountTokenResource, AccountTokensResource
from web.resources.download import DownloadByFileResource, JobMp3Resource, SignedLinkResource
from web.resources.health import LivenessResource, ReadinessResource
from web.resources.jobs import JobNotifyResource, JobResource, JobRetryResource, JobsResource
from web.resources.login import LoginResource, ValidateResource
from web.resources.oidc import OidcCallbackResource, OidcLoginResource
from web.resources.tus import TusHeaderMiddleware, TusUploadResource, TusUploadsResource
from web.resources.upload import UploadResource
from web.resources.waveform import JobWaveformResource
from web.ui import install as install_ui
from web.upload_jobs import UploadJobs


def create_app(
    settings: Settings,
    sessions,
    store: BlobStore,
    tokens: TokenService,
    enqueue: Callable[..., None],
    broker_check: Callable[[], None] | None = None,
    schema_revision: str | None = None,
    queues=None,
    dashboard=None,
) -> falcon.App:
    """Return the WSGI app; `enqueue(job_id, step)` hands a committed job to the pipeline.

    Readiness checks that the database is at `schema_revision` (alembic's head) when given.
    `queues` (an `actors.queues.QueueAdmin`) gives the admin pages and /metrics the broker's queues;
    `dashboard(mount_path)` makes dramatiq-dashboard's WSGI app, served at /admin/tasks, when on
    Redis. Behind a reverse proxy, wrap the app in `web.proxy.ProxyFix`.
    """
    browser = BrowserSession(settings, tokens)
    auth = AuthMiddleware(tokens, sessions, browser)
    app = falcon.App(middleware=[MetricsMiddleware(), auth, TusHeaderMiddleware()])
    app.req_options.strip_url_path_trailing_slash = True
    errors.install(app)

    def database_check() -> None:
        with sessions() as session:
            if schema_revision:
                check_schema(session, schema_revision)
            else:
                session.execute(text("SELECT 1"))

    checks = {"database": database_check, "storage": store.ping}
    if broker_check is not None:
        checks["broker"] = broker_check

    app.add_route("/healthz", LivenessResource())
    app.add_route("/readyz", ReadinessResource(checks))
    app.add_route("/metrics", MetricsResource(sessions, queues))
    app.add_route("/login", LoginResource(settings, sessions, tokens))
    app.add_route("/validate", ValidateResource())
    upload_jobs = UploadJobs(settings, sessions, store, enqueue)
    app.add_route("/upload", UploadResource(settings, store, upload_jobs))
    app.add_route("/files", TusUploadsResource(settings, sessions, store, upload_jobs))
    app.add_route(
        "/files/{upload_id:uuid}", TusUploadResource(settings, sessions, store, upload_jobs)
    )
    finished = FinishedJobs()
    app.add_route("/jobs", JobsResource(settings, sessions, finished))
    app.add_route("/jobs/{job_id:uuid}", JobResource(settings, sessions, store, finished))
    app.add_route("/jobs/{job_id:uuid}/retry", JobRetryResource(sessions, enqueue))
    app.add_route("/jobs/{job_id:uuid}/notify", JobNotifyResource(sessions))
    app.add_route("/jobs/{job_id:uuid}/mp3", JobMp3Resource(sessions, store))
    app.add_route("/jobs/{job_id:uuid}/waveform", JobWaveformResource(sessions, store))
    app.add_route("/download", DownloadByFileResource(sessions, store))
    app.add_route("/d/{token}", SignedLinkResource(sessions, store, tokens))
    viewer = install_ui(app, settings, sessions, auth, browser)
    admin = AdminService(settings, sessions, store, enqueue, queues)
    install_admin(app, admin, viewer, auth, dashboard)
    app.add_route("/account/tokens", AccountTokensResource(sessions))
    app.add_route("/account/tokens/{token_id:int}", AccountTokenResource(sessions))
    if settings.oidc_issuer:
        oidc = OidcClient(settings)
        app.add_route("/auth/oidc/login", OidcLoginResource(settings, oidc, tokens))
        app.add_route("/auth/oidc/callback", OidcCallbackResource(sessions, oidc, tokens, browser))
    docs.install(app)
    return app
