"""Telethon pledges (model: ``pledges/models.py``).

Revision ID: 0002_pledges
Revises: 0001
Create Date: 2026-12-06 13:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_pledges"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pledges",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("client_key", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("donor_key", sa.String(length=64), nullable=False),
        sa.Column("pseudonym", sa.String(length=80), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("frequency", sa.String(length=8), nullable=False),
        sa.Column("day_of_month", sa.Integer(), nullable=True),
        sa.Column("instalments", sa.Integer(), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("receipt", sa.Boolean(), nullable=False),
        sa.Column("donor_sealed", sa.Text(), nullable=False),
        sa.Column("keep_details", sa.Boolean(), nullable=False),
        sa.Column("consent_sms", sa.Boolean(), nullable=False),
        sa.Column("on_air", sa.Boolean(), nullable=False),
        sa.Column("alias", sa.String(length=40), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("removed", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("provider_ref", sa.String(length=128), nullable=False),
        sa.Column("link_url", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("texted_at", sa.Float(), nullable=True),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("read_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign", "client_key", name="uq_pledges_campaign_client_key"),
    )
    op.create_index(
        "ix_pledges_campaign_created_at", "pledges", ["campaign", "created_at"], unique=False
    )
    op.create_index("ix_pledges_donor_key", "pledges", ["donor_key", "created_at"], unique=False)
    op.create_index("ix_pledges_provider_ref", "pledges", ["provider_ref"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_pledges_provider_ref", table_name="pledges")
    op.drop_index("ix_pledges_donor_key", table_name="pledges")
    op.drop_index("ix_pledges_campaign_created_at", table_name="pledges")
    op.drop_table("pledges")
