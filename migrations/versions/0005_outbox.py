"""jobs owe a message or an e-mail: enqueued_at, email_due_at

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.models import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("enqueued_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("email_due_at", UTCDateTime(), nullable=True))
        batch_op.create_index("ix_jobs_email_due", ["email_due_at"], unique=False)
    # Jobs from before this revision had their message sent (or the sweeper sends it).
    op.execute("UPDATE jobs SET enqueued_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_email_due")
        batch_op.drop_column("email_due_at")
        batch_op.drop_column("enqueued_at")
