"""jobs remember the upload's SHA-256 for instant repeats: video_sha256

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 13:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("video_sha256", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "ix_jobs_user_video_sha256", ["user_id", "video_sha256"], unique=False
        )
        batch_op.create_index("ix_jobs_mp3_blob", ["mp3_blob_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_mp3_blob")
        batch_op.drop_index("ix_jobs_user_video_sha256")
        batch_op.drop_column("video_sha256")
