"""When a pledge was paid: kept when a paid monthly gift is cancelled, so the money received
stays in the tote board's totals.

Revision ID: 0005_pledge_paid_at
Revises: 0004_wrapup_until
Create Date: 2026-12-06 19:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_pledge_paid_at"
down_revision = "0004_wrapup_until"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pledges") as batch:
        batch.add_column(sa.Column("paid_at", sa.Float(), nullable=True))
    # Pledges paid before: their last change is when they were paid (a paid monthly gift
    # cancelled before this revision cannot be told from one never paid).
    op.execute("UPDATE pledges SET paid_at = updated_at WHERE status = 'paid'")


def downgrade() -> None:
    with op.batch_alter_table("pledges") as batch:
        batch.drop_column("paid_at")
