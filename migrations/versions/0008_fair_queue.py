"""the fair queue's turn of each user: index jobs (user_id, enqueued_at)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 13:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # core.fairqueue reads each waiting user's last release: max(enqueued_at) per user.
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_user_enqueued", ["user_id", "enqueued_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_user_enqueued")
