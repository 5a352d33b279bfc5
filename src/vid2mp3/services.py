"""Build the long-lived services of a process (database, blob store, tokens) from settings."""

from __future__ import annotations

import dataclasses

from core.db import make_engine, make_sessions
from core.settings import Settings
from core.storage import BlobStore, open_store
from core.tokens import TokenService, token_service


@dataclasses.dataclass
class Services:
    """What one process holds open; `close()` releases it at shutdown."""

    settings: Settings
    engine: object
    sessions: object
    store: BlobStore
    tokens: TokenService

    def close(self) -> None:
        """Close the store and the database pool."""
        self.store.close()
        self.engine.dispose()


def build_services(settings: Settings) -> Services:
    """Open the database pool and the blob store, and set up token signing."""
    engine = make_engine(settings.database_url, settings.database_timeout_seconds)
    return Services(
        settings=settings,
        engine=engine,
        sessions=make_sessions(engine),
        store=open_store(settings.storage_url),
        tokens=token_service(settings),
    )
