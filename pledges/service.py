"""Pledges taken by operators during calls: saved once per form submission, corrected by
their operator until the call's wrap-up closes, and the form prefilled for a returning donor.

The call (its campaign by the line dialled, the caller's keyed reference, pseudonym and
language, the operator's part) comes from the records (``core.ports.TakenCalls``); a donor is
found again by that keyed reference, never by a number. The comment is scrubbed of phone and
card numbers; name, address and e-mail are sealed. Every refusal is an ``ApiError`` with an id.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.api import ApiError
from core.ports import TakenCall, TakenCalls
from core.scrub import scrub
from pledges.campaigns import Campaign
from pledges.donors import DonorSeal
from pledges.models import Pledge
from pledges.rules import DonorDetails, PledgeForm, PledgeRefused, Status, check_form

#: A form's idempotency key: what a browser's ``crypto.randomUUID()`` makes, or alike.
CLIENT_KEY = re.compile(r"[A-Za-z0-9_-]{8,64}")
#: Earlier pledges a prefilled form shows.
EARLIER_MAX = 10


@dataclass(frozen=True)
class PledgeView:
    """A stored pledge as the API shows it: no donor details, only whether some are kept."""

    id: str
    campaign: str
    call_id: str
    agent: str
    pseudonym: str
    language: str
    amount: int
    currency: str
    frequency: str
    day_of_month: int | None
    instalments: int | None
    method: str
    receipt: bool
    has_donor_details: bool
    keep_details: bool
    consent_sms: bool
    on_air: bool
    alias: str
    comment: str
    removed: Mapping[str, int]
    status: str
    created_at: float
    updated_at: float

    def to_dict(self) -> dict[str, object]:
        """A JSON-safe dict."""
        return {**asdict(self), "removed": dict(self.removed)}


@dataclass(frozen=True)
class Saved:
    """The pledge a submission stored, or found stored already (``created`` False)."""

    pledge: PledgeView
    created: bool


@dataclass(frozen=True)
class Prefill:
    """What the pledge form opens with on a call."""

    campaign: str
    title: str
    currency: str
    presets: tuple[int, ...]
    minimum: int
    maximum: int
    one_off: bool
    monthly: bool
    receipt: str
    pseudonym: str
    language: str
    #: The donor's earlier pledges (newest first) and, if they agreed, their details (or
    #: those given on this call's pledge).
    earlier: Sequence[PledgeView]
    donor: DonorDetails | None
    #: The operator's newest pledge on this call (a form reopened: its correction goes on).
    saved: PledgeView | None = None

    def to_dict(self) -> dict[str, object]:
        """A JSON-safe dict."""
        return {
            **asdict(self),
            "presets": list(self.presets),
            "earlier": [view.to_dict() for view in self.earlier],
            "donor": asdict(self.donor) if self.donor else None,
            "saved": self.saved.to_dict() if self.saved else None,
        }


class Pledges:
    """Saves, corrects and reads pledges for the operators' API."""

    def __init__(
        self,
        engine: AsyncEngine,
        campaigns: Mapping[str, Campaign],
        calls: TakenCalls,
        seal: DonorSeal,
        *,
        region: str,
        clock: Callable[[], float],
    ) -> None:
        self.engine, self.calls, self.seal = engine, calls, seal
        self.region, self.clock = region, clock
        self._by_line = {did: c for c in campaigns.values() for did in c.dids}

    async def prefill(self, call_id: str, agent: str) -> Prefill:
        """The form for ``agent``'s call: the campaign, the caller's pseudonym and language,
        for a returning donor their earlier pledges and (if kept) their details, and the
        pledge the operator saved on this call already (a form reopened after a reload)."""
        call = await self.calls.taken(call_id, agent)
        campaign = self._campaign(call)
        earlier: list[Pledge] = []
        async with AsyncSession(self.engine) as session:
            saved = await session.scalar(
                select(Pledge)
                .where(Pledge.call_id == call_id, Pledge.agent == agent)
                .order_by(Pledge.created_at.desc())
                .limit(1)
            )
            if call.caller_key:
                rows = await session.scalars(
                    select(Pledge)
                    .where(Pledge.donor_key == call.caller_key, Pledge.call_id != call_id)
                    .order_by(Pledge.created_at.desc())
                    .limit(EARLIER_MAX)
                )
                earlier = list(rows.all())
        kept = next((row for row in earlier if row.keep_details and row.donor_sealed), None)
        if saved is not None and saved.donor_sealed:
            kept = saved
        return Prefill(
            campaign=campaign.name,
            title=campaign.title,
            currency=campaign.currency,
            presets=campaign.presets,
            minimum=campaign.minimum,
            maximum=campaign.maximum,
            one_off=campaign.one_off,
            monthly=campaign.monthly,
            receipt=campaign.receipt.value,
            pseudonym=call.pseudonym,
            language=call.language,
            earlier=[view_of(row) for row in earlier],
            donor=self.seal.open(kept.donor_sealed) if kept else None,
            saved=view_of(saved) if saved else None,
        )

    async def save(self, call_id: str, agent: str, client_key: str, form: PledgeForm) -> Saved:
        """Store ``agent``'s pledge on ``call_id`` once: a submission with a ``client_key``
        already used by this operator in the campaign returns the stored pledge unchanged."""
        if not CLIENT_KEY.fullmatch(client_key):
            raise ApiError(400, "bad-client-key", f"client_key must match {CLIENT_KEY.pattern}")
        call = await self.calls.taken(call_id, agent)
        campaign = self._campaign(call)
        found = await self._by_client_key(campaign.name, client_key, agent)
        if found is not None:  # a resubmission, even one arriving late: what was stored
            return Saved(found, created=False)
        now = self.clock()
        self._check_open(call, now)
        checked = _checked(form, campaign)
        row = Pledge(
            id=uuid.uuid4().hex,
            campaign=campaign.name,
            client_key=client_key,
            call_id=call_id,
            agent=agent,
            donor_key=call.caller_key,
            pseudonym=call.pseudonym,
            language=call.language,
            currency=campaign.currency,
            status=Status.PLEDGED.value,
            provider_ref="",
            link_url="",
            created_at=now,
        )
        self._fill(row, checked, now)
        try:
            async with AsyncSession(self.engine, expire_on_commit=False) as s, s.begin():
                s.add(row)
        except IntegrityError:  # the same submission, saved at the same moment elsewhere
            found = await self._by_client_key(campaign.name, client_key, agent)
            if found is None:
                raise
            return Saved(found, created=False)
        return Saved(view_of(row), created=True)

    async def correct(self, pledge_id: str, agent: str, form: PledgeForm) -> PledgeView:
        """Replace the form of ``agent``'s pledge while it is only pledged and the call's
        wrap-up is open: 404 no-such-pledge, 403 not-your-pledge, 409 pledge-closed or
        ``pledge-<status>``."""
        current = await self.get(pledge_id, agent)
        _check_pledged(current.status)
        call = await self.calls.taken(current.call_id, agent)
        now = self.clock()
        self._check_open(call, now)
        checked = _checked(form, self._campaign(call))
        async with AsyncSession(self.engine, expire_on_commit=False) as session, session.begin():
            row = await session.get_one(Pledge, pledge_id, with_for_update=True)
            _check_pledged(row.status)  # a link may have gone out meanwhile
            self._fill(row, checked, now)
        return view_of(row)

    async def get(self, pledge_id: str, agent: str | None = None) -> PledgeView:
        """A pledge; with ``agent``, only that operator's (403 not-your-pledge otherwise)."""
        async with AsyncSession(self.engine) as session:
            row = await session.get(Pledge, pledge_id)
        if row is None:
            raise ApiError(404, "no-such-pledge", pledge_id)
        if agent is not None and row.agent != agent:
            raise ApiError(403, "not-your-pledge", "only its operator or staff read a pledge")
        return view_of(row)

    def _campaign(self, call: TakenCall) -> Campaign:
        campaign = self._by_line.get(call.line)
        if campaign is None:
            raise ApiError(409, "not-a-campaign-call", "the call came in on no campaign's line")
        return campaign

    @staticmethod
    def _check_open(call: TakenCall, now: float) -> None:
        if call.closes_at is not None and now > call.closes_at:
            raise ApiError(409, "pledge-closed", "the wrap-up time of this call is over")

    def _fill(self, row: Pledge, form: PledgeForm, now: float) -> None:
        """Write the checked ``form`` into ``row``: comment scrubbed, donor details sealed."""
        scrubbed = scrub(form.comment, self.region)
        row.amount, row.frequency = form.amount, form.frequency.value
        row.day_of_month, row.instalments = form.day_of_month, form.instalments
        row.method, row.receipt = form.method.value, form.receipt
        row.donor_sealed, row.keep_details = self.seal.seal(form.donor), form.keep_details
        row.consent_sms, row.on_air, row.alias = form.consent_sms, form.on_air, form.alias
        row.comment, row.removed = scrubbed.text, json.dumps(dict(scrubbed.removed))
        row.updated_at = now

    async def _by_client_key(self, campaign: str, client_key: str, agent: str) -> PledgeView | None:
        async with AsyncSession(self.engine) as session:
            row = await session.scalar(
                select(Pledge).where(Pledge.campaign == campaign, Pledge.client_key == client_key)
            )
        if row is None:
            return None
        if row.agent != agent:
            raise ApiError(409, "client-key-taken", "another operator's pledge has this key")
        return view_of(row)


def _check_pledged(status: str) -> None:
    if status != Status.PLEDGED.value:
        code = "pledge-" + status.replace("_", "-")
        raise ApiError(409, code, f"a {status} pledge is not corrected")


def _checked(form: PledgeForm, campaign: Campaign) -> PledgeForm:
    try:
        return check_form(form, campaign)
    except PledgeRefused as refused:
        raise ApiError(400, refused.code, refused.detail) from None


def view_of(row: Pledge) -> PledgeView:
    """The API's view of a stored pledge."""
    return PledgeView(
        id=row.id,
        campaign=row.campaign,
        call_id=row.call_id,
        agent=row.agent,
        pseudonym=row.pseudonym,
        language=row.language,
        amount=row.amount,
        currency=row.currency,
        frequency=row.frequency,
        day_of_month=row.day_of_month,
        instalments=row.instalments,
        method=row.method,
        receipt=row.receipt,
        has_donor_details=bool(row.donor_sealed),
        keep_details=row.keep_details,
        consent_sms=row.consent_sms,
        on_air=row.on_air,
        alias=row.alias,
        comment=row.comment,
        removed=json.loads(row.removed),
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
