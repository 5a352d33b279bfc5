"""Bring a database to the latest schema with alembic (used by `vid2mp3 migrate` and `run`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

# The repository root holds alembic.ini and migrations/; the Dockerfile keeps the same layout.
ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str) -> Config:
    """Return the alembic configuration aimed at `database_url`."""
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    return config


def upgrade_to_head(database_url: str) -> None:
    """Apply every migration not yet applied."""
    command.upgrade(alembic_config(database_url), "head")


def head_revision() -> str:
    """Return the revision this release's migrations end at (what readiness expects)."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()
