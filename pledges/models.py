"""The pledges table (SQLAlchemy 2 model). It lives in the records database: its schema is
made by the Alembic migration ``records/migrations/versions/0002_pledges.py``, tested against
this model on SQLite and PostgreSQL.

No column holds a phone number or a card number: the donor is a keyed reference (the prefix of
the vault's keyed hash the contacts use), and their name, address and e-mail are one Fernet
token (``pledges.donors``). Amounts are minor units of the campaign's currency.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """The pledges' metadata (beside ``records.models.Base``, in the same database)."""


class Pledge(Base):
    """One donor's pledge taken by an operator during a call."""

    __tablename__ = "pledges"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    campaign: Mapped[str] = mapped_column(String(64))
    #: The form's idempotency key: a second submission with it finds this pledge.
    client_key: Mapped[str] = mapped_column(String(64))
    call_id: Mapped[str] = mapped_column(String(64), default="")
    agent: Mapped[str] = mapped_column(String(64))
    #: Keyed reference to the caller ("" for a withheld number): never the number.
    donor_key: Mapped[str] = mapped_column(String(64), default="")
    pseudonym: Mapped[str] = mapped_column(String(80), default="")
    language: Mapped[str] = mapped_column(String(8), default="")
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    #: ``pledges.rules.Frequency`` value; monthly gifts have a day and maybe instalments.
    frequency: Mapped[str] = mapped_column(String(8))
    day_of_month: Mapped[int | None] = mapped_column(Integer)
    instalments: Mapped[int | None] = mapped_column(Integer)
    #: ``pledges.rules.Method`` value.
    method: Mapped[str] = mapped_column(String(16))
    receipt: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Fernet token of the donor's name, address and e-mail ("" when none was given).
    donor_sealed: Mapped[str] = mapped_column(Text, default="")
    #: The donor agreed that their details be kept for their next call.
    keep_details: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_sms: Mapped[bool] = mapped_column(Boolean, default=False)
    on_air: Mapped[bool] = mapped_column(Boolean, default=False)
    alias: Mapped[str] = mapped_column(String(40), default="")
    #: Scrubbed comment, and what the scrubber removed as JSON (kinds and counts).
    comment: Mapped[str] = mapped_column(Text, default="")
    removed: Mapped[str] = mapped_column(String(200), default="{}")
    #: ``pledges.rules.Status`` value.
    status: Mapped[str] = mapped_column(String(16))
    #: The payment provider's reference and the link sent ("" until a link is made).
    provider_ref: Mapped[str] = mapped_column(String(128), default="")
    link_url: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    #: When the provider said it was paid (None: never); kept if a paid monthly gift is
    #: cancelled, as what was received stays received.
    paid_at: Mapped[float | None] = mapped_column(Float)
    #: When the link or the last reminder was texted, and how many reminders went.
    texted_at: Mapped[float | None] = mapped_column(Float)
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    #: When the presenter read the donor's alias on air (None: not yet, or not to be read).
    read_at: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        UniqueConstraint("campaign", "client_key", name="uq_pledges_campaign_client_key"),
        Index("ix_pledges_donor_key", "donor_key", "created_at"),
        Index("ix_pledges_campaign_created_at", "campaign", "created_at"),
        Index("ix_pledges_provider_ref", "provider_ref"),
    )
