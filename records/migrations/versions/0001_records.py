"""Contacts, wrap-ups, audit and queue history (generated, then read and tidied).

Revision ID: 0001
Revises:
Create Date: 2026-12-06 09:45:24.001298
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_at", "audit", ["at"], unique=False)
    op.create_table(
        "contacts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("caller_key", sa.String(length=64), nullable=False),
        sa.Column("pseudonym", sa.String(length=80), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("line", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("ivr_path", sa.String(length=200), nullable=False),
        sa.Column("queues", sa.String(length=200), nullable=False),
        sa.Column("arrived_at", sa.Float(), nullable=True),
        sa.Column("offered_at", sa.Float(), nullable=True),
        sa.Column("answered_at", sa.Float(), nullable=True),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("outcome_at", sa.Float(), nullable=True),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("transfers", sa.Integer(), nullable=False),
        sa.Column("journal_id", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_contacts_arrived_at", "contacts", ["arrived_at"], unique=False)
    op.create_index(
        "ix_contacts_caller_key", "contacts", ["caller_key", "arrived_at"], unique=False
    )
    op.create_table(
        "queue_events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=24), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("wait_s", sa.Float(), nullable=True),
        sa.Column("talk_s", sa.Float(), nullable=True),
        sa.Column("detail", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_queue_events_at", "queue_events", ["at"], unique=False)
    op.create_index("ix_queue_events_queue_hour", "queue_events", ["queue", "hour"], unique=False)
    op.create_table(
        "stream_cursors",
        sa.Column("stream", sa.String(length=32), nullable=False),
        sa.Column("last_id", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("stream"),
    )
    op.create_table(
        "wrapups",
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("disposition", sa.String(length=64), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("removed", sa.String(length=200), nullable=False),
        sa.Column("written_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("call_id", "agent"),
    )
    op.create_index("ix_wrapups_written_at", "wrapups", ["written_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_wrapups_written_at", table_name="wrapups")
    op.drop_table("wrapups")
    op.drop_table("stream_cursors")
    op.drop_index("ix_queue_events_queue_hour", table_name="queue_events")
    op.drop_index("ix_queue_events_at", table_name="queue_events")
    op.drop_table("queue_events")
    op.drop_index("ix_contacts_caller_key", table_name="contacts")
    op.drop_index("ix_contacts_arrived_at", table_name="contacts")
    op.drop_table("contacts")
    op.drop_index("ix_audit_at", table_name="audit")
    op.drop_table("audit")
