"""When a volunteer's wrap-up ends, from the queue log (completions and extensions), so that
the wrap-up form's deadline moves with an extension.

Revision ID: 0004_wrapup_until
Revises: 0003_wrapup_flags
Create Date: 2026-12-06 19:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_wrapup_until"
down_revision = "0003_wrapup_flags"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("queue_events") as batch:
        batch.add_column(sa.Column("wrapup_until", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("queue_events") as batch:
        batch.drop_column("wrapup_until")
