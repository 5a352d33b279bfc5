"""Hold what the actors of one worker process share: settings, engine, blob store, tokens, metrics.

The composition root (`actors.broker.setup_broker`) builds one `Runtime` and declares the actors
against it; nothing looks it up from a module global. Its connections are created lazily in the
process that uses them (after the Dramatiq CLI has forked its worker processes, never before),
and closed by the worker middleware when the worker stops. Each step opens its own database
session from `sessions` for the length of the message.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from actors.metrics import WorkerMetrics, worker_metrics
from core.db import make_engine, make_sessions
from core.jobs import lease_seconds_for
from core.settings import Settings
from core.storage import BlobStore, open_store
from core.tokens import DOWNLOAD_AUDIENCE, TokenService, token_service


class Runtime:
    """The per-process resources of the pipeline, created on first use."""

    def __init__(
        self,
        settings: Settings,
        *,
        work_root: Path | None = None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.lease_seconds = lease_seconds_for(settings.stuck_job_seconds)
        # Per-job working folders live here; the worker's TMPDIR decides where.
        self.work_root = work_root or Path(tempfile.gettempdir()) / "vid2mp3-work"
        self._metrics = metrics
        self._lock = threading.Lock()
        self._engine = None
        self._sessions: sessionmaker[Session] | None = None
        self._store: BlobStore | None = None
        self._tokens: TokenService | None = None

    @property
    def sessions(self) -> sessionmaker[Session]:
        with self._lock:
            if self._sessions is None:
                self._engine = make_engine(self.settings.database_url)
                self._sessions = make_sessions(self._engine)
            return self._sessions

    @property
    def store(self) -> BlobStore:
        with self._lock:
            if self._store is None:
                self._store = open_store(self.settings.storage_url)
            return self._store

    @property
    def tokens(self) -> TokenService:
        with self._lock:
            if self._tokens is None:
                self._tokens = token_service(self.settings)
            return self._tokens

    @property
    def metrics(self) -> WorkerMetrics:
        # Created on first use: the worker chooses its multiprocess folder before that.
        with self._lock:
            if self._metrics is None:
                self._metrics = worker_metrics()
            return self._metrics

    def download_url(self, job_id: str) -> str:
        """Return the signed, expiring link that downloads the job's MP3 without a login."""
        token, _ = self.tokens.issue(
            job_id,
            audience=DOWNLOAD_AUDIENCE,
            ttl_seconds=self.settings.download_link_ttl_seconds,
        )
        return f"{self.settings.public_url}/d/{token}"

    def close(self) -> None:
        """Release the engine's connections and the store's client."""
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
                self._sessions = None
