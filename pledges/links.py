"""A pledge's payment link, sent once by SMS (then reminded, as the campaign says, while it is
unpaid), and the provider's webhooks that mark it paid, failed or expired; staff cancel a
pledge.

Sending is idempotent step by step, so a retried request (or one cut off half-way) doubles
nothing: the link is made only while the pledge has none (and the provider answers a repeated
request with the same link), the SMS is queued under the key ``pledge-link:{id}`` (the outbox
answers a repeated key with the first message), and the status moves only from pledged. A
webhook moves the status along the rules' machine: the same event again changes nothing, and
one a pledge's status does not allow (a payment for a cancelled pledge) is refused with an id.
Cancelling a pledge before it is paid closes its link at the provider; a payment made all the
same (the donor paid as it was cancelled) leaves it cancelled (nothing counted
twice), stops the subscription a monthly gift's link started (``PaymentProvider.stop``: a
failure answers 502 and the provider's redelivery stops it then), and logs a warning for staff
to refund what was taken.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.api import ApiError
from core.ports import CallerRefs, TextSender
from pledges.campaigns import Campaign
from pledges.models import Pledge
from pledges.payments import LinkRequest, PaymentEvent, PaymentProvider
from pledges.rules import (
    Frequency,
    Method,
    PledgeRefused,
    Status,
    advance,
    cancelled_from,
    reminder_due,
)
from pledges.service import PledgeView, view_of

logger = logging.getLogger(__name__)
#: Compare-and-set rounds a status move makes against concurrent moves.
_ROUNDS = 3


@dataclass(frozen=True)
class Applied:
    """What a webhook did: the pledge it moved (None: an event about no pledge's status) and
    whether its status changed (False for a repeated event)."""

    event_id: str
    pledge: PledgeView | None
    changed: bool


class PaymentDesk:
    """Sends payment links and applies the provider's verdicts."""

    def __init__(
        self,
        engine: AsyncEngine,
        campaigns: Mapping[str, Campaign],
        provider: PaymentProvider,
        callers: CallerRefs,
        texts: TextSender,
        *,
        clock: Callable[[], float],
    ) -> None:
        self.engine, self.campaigns, self.provider = engine, campaigns, provider
        self.callers, self.texts, self.clock = callers, texts, clock

    async def send_link(self, pledge_id: str, agent: str | None) -> PledgeView:
        """Make the pledge's payment link and text it to the caller, once; ``agent`` (None
        for staff) must be its operator. 409 not-an-sms-pledge, no-caller-number or
        ``pledge-<status>`` (after link_sent, which answers the pledge as it is)."""
        row = await self._row(pledge_id)
        if agent is not None and row.agent != agent:
            raise ApiError(403, "not-your-pledge", "only its operator or staff send its link")
        if row.method != Method.SMS_LINK.value:
            raise ApiError(409, "not-an-sms-pledge", f"this pledge's method is {row.method}")
        if row.status == Status.LINK_SENT.value:
            return view_of(row)
        if row.status != Status.PLEDGED.value:
            raise _refused(row.status, f"a {row.status} pledge gets no link")
        ref = await self.callers.caller_ref(row.call_id)
        if ref is None:
            raise ApiError(409, "no-caller-number", "the caller's number is not reachable")
        campaign = self.campaigns[row.campaign]
        if not row.provider_ref:
            link = await self.provider.create_link(
                LinkRequest(
                    pledge_id=row.id,
                    campaign_title=campaign.title,
                    amount=row.amount,
                    currency=row.currency,
                    frequency=Frequency(row.frequency),
                    language=row.language,
                    day_of_month=row.day_of_month,
                )
            )
            await self._set(row.id, {"provider_ref": "", "link_url": ""}, {
                "provider_ref": link.provider_ref, "link_url": link.url,
            })  # fmt: skip
            row = await self._row(pledge_id)
        language = row.language if row.language in campaign.sms_templates else "en"
        body = campaign.sms_templates[language].format(link=row.link_url)
        message = await self.texts.send_text(
            ref, body, language=language, key=f"pledge-link:{row.id}"
        )
        logger.info("pledge %s: link %s queued as SMS %s", row.id, row.provider_ref, message)
        sent: dict[str, str | float] = {"status": Status.LINK_SENT.value, "texted_at": self.clock()}
        await self._set(row.id, {"status": Status.PLEDGED.value}, sent)
        return view_of(await self._row(pledge_id))

    async def remind(self) -> int:
        """Text the next reminder of every unpaid link that is due (``rules.reminder_due``);
        how many were queued. Each reminder has its own idempotency key, so a run cut off
        between queueing and counting queues nothing twice; STOP is honoured by the SMS
        pipeline, and a paid, cancelled or expired pledge is not reminded."""
        now, queued = self.clock(), 0
        for campaign in self.campaigns.values():
            if not campaign.reminders:
                continue
            query = select(Pledge).where(
                Pledge.campaign == campaign.name,
                Pledge.status.in_((Status.LINK_SENT.value, Status.FAILED.value)),
                Pledge.reminders_sent < campaign.reminders,
                Pledge.texted_at <= now - campaign.reminder_every_s,
            )
            async with AsyncSession(self.engine) as session:
                due = (await session.scalars(query.order_by(Pledge.texted_at))).all()
            for row in due:
                if not reminder_due(
                    Status(row.status), row.reminders_sent, row.texted_at, campaign, now
                ):
                    continue
                queued += await self._remind(row, campaign, now)
        return queued

    async def _remind(self, row: Pledge, campaign: Campaign, now: float) -> int:
        ordinal = row.reminders_sent + 1
        language = row.language if row.language in campaign.reminder_templates else "en"
        body = campaign.reminder_templates[language].format(link=row.link_url)
        message = await self.texts.send_again(
            f"pledge-link:{row.id}",
            body,
            language=language,
            key=f"pledge-reminder:{row.id}:{ordinal}",
        )
        if message is None:  # the link's SMS is past the outbox's retention: stop reminding
            logger.info("pledge %s: no reminder (its link's SMS is gone)", row.id)
            ordinal = campaign.reminders
        else:
            logger.info("pledge %s: reminder %s queued as SMS %s", row.id, ordinal, message)
        counted = {"reminders_sent": ordinal, "texted_at": now}
        await self._set(row.id, {"reminders_sent": row.reminders_sent}, counted)
        return 0 if message is None else 1

    async def receive(self, payload: bytes, signature: str | None) -> Applied:
        """Apply a provider webhook. ApiError 400 for an unsigned, forged or stale one, 404
        no-such-pledge, 409 ``pledge-<status>`` (a move its status does not allow) or
        provider-ref-mismatch."""
        event = self.provider.read_webhook(payload, signature)
        if event.status is None:
            return Applied(event.event_id, None, changed=False)
        for _ in range(_ROUNDS):
            row = await self._row(event.pledge_id)
            if not row.provider_ref or row.provider_ref != event.provider_ref:
                raise ApiError(409, "provider-ref-mismatch", "this pledge has no such link")
            try:
                target = advance(Status(row.status), event.status)
            except PledgeRefused as refused:
                cancelled = row.status == Status.CANCELLED.value
                if cancelled and event.status is Status.EXPIRED:  # the cancel closed its link
                    return Applied(event.event_id, view_of(row), changed=False)
                if cancelled and event.status is Status.PAID:
                    await self._paid_when_cancelled(row, event)
                else:
                    logger.warning(
                        "pledge %s: %s refused by a %s pledge (event %s)",
                        row.id, event.status.value, row.status, event.event_id,
                    )  # fmt: skip
                raise ApiError(409, refused.code, refused.detail) from None
            if target.value == row.status:
                await self._limit(row, event)
                return Applied(event.event_id, view_of(row), changed=False)
            moved: dict[str, str | float] = {"status": target.value}
            if target is Status.PAID:
                moved["paid_at"] = self.clock()
            if await self._set(row.id, {"status": row.status}, moved):
                logger.info("pledge %s: %s (event %s)", row.id, target.value, event.event_id)
                await self._limit(row, event)
                return Applied(event.event_id, view_of(await self._row(row.id)), changed=True)
        raise ApiError(409, "pledge-busy", "the pledge kept changing; try again")

    async def _paid_when_cancelled(self, row: Pledge, event: PaymentEvent) -> None:
        """A payment for a pledge cancelled before it was paid: the pledge stays cancelled,
        the recurring payment the link started (a monthly gift) is stopped, again on each
        redelivery, and staff are told to refund what was taken."""
        if event.subscription_ref:
            await self.provider.stop(event.provider_ref, row.id)
        logger.warning(
            "pledge %s: paid by %s after it was cancelled (event %s): it stays cancelled%s; "
            "staff: refund the payment at the provider",
            row.id, event.provider_ref, event.event_id,
            ", its subscription stopped" if event.subscription_ref else "",
        )  # fmt: skip

    async def _limit(self, row: Pledge, event: PaymentEvent) -> None:
        """A paid monthly gift of N instalments: its recurring payment ends after N (again on
        a repeated event, so a delivery whose first try failed half-way completes it)."""
        if event.status is Status.PAID and row.instalments and event.subscription_ref:
            await self.provider.end_after(event.subscription_ref, row.instalments, row.id)

    async def cancel(self, pledge_id: str) -> PledgeView:
        """Cancel a pledge (staff): 409 ``pledge-<status>`` once it is over, or paid but for
        a monthly gift, whose recurring payment is stopped at the provider first (so a cancel
        retried after a failure stops it then); an unpaid link is closed first likewise."""
        for _ in range(_ROUNDS):
            row = await self._row(pledge_id)
            try:
                target = cancelled_from(Status(row.status), Frequency(row.frequency))
            except PledgeRefused as refused:
                raise ApiError(409, refused.code, refused.detail) from None
            if target.value == row.status:
                return view_of(row)
            if row.status == Status.PAID.value:
                await self.provider.stop(row.provider_ref, row.id)
            elif row.provider_ref:
                await self.provider.close_link(row.provider_ref, row.id)
            if await self._set(row.id, {"status": row.status}, {"status": target.value}):
                return view_of(await self._row(row.id))
        raise ApiError(409, "pledge-busy", "the pledge kept changing; try again")

    async def _row(self, pledge_id: str) -> Pledge:
        async with AsyncSession(self.engine) as session:
            row = await session.get(Pledge, pledge_id)
        if row is None:
            raise ApiError(404, "no-such-pledge", pledge_id)
        return row

    async def _set(
        self, pledge_id: str, where: Mapping[str, object], values: Mapping[str, object]
    ) -> bool:
        """Compare and set: write ``values`` if the row still holds ``where``."""
        conditions = [Pledge.id == pledge_id]
        conditions += [getattr(Pledge, column) == value for column, value in where.items()]
        async with AsyncSession(self.engine) as session, session.begin():
            result = await session.execute(
                update(Pledge).where(*conditions).values(**values, updated_at=self.clock())
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def _refused(status: str, detail: str) -> ApiError:
    return ApiError(409, "pledge-" + status.replace("_", "-"), detail)
