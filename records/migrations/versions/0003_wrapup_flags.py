"""The flags a volunteer sets on a contact in its wrap-up.

Revision ID: 0003_wrapup_flags
Revises: 0002_pledges
Create Date: 2026-12-06 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_wrapup_flags"
down_revision = "0002_pledges"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("wrapups") as batch:
        batch.add_column(
            sa.Column("flags", sa.String(length=400), nullable=False, server_default="[]")
        )


def downgrade() -> None:
    with op.batch_alter_table("wrapups") as batch:
        batch.drop_column("flags")
