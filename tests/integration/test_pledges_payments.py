"""Payment links and webhooks with the real ``stripe`` library against the Stripe stand-in,
the real SMS outbox on Redis and both databases: one link and one SMS per pledge however often
it is asked, webhooks verified by the library, and each bad webhook refused with its id,
nothing doubled."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import aiohttp
import pytest
import redis
import redis.asyncio as aioredis
import stripe
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet
from rq import Queue
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from acd.records import Caller, Records, put
from acd.store import AcdStore
from bench.stripe_standin import StripeStandIn
from core.config import RecordsSettings, SmsSettings
from core.privacy.vault import Vault
from hotline.telethon import AcdCallerRefs, OutboxTexts, with_campaign_languages
from ivr.flow import DEMO_FLOW, Flow, load_flow
from ivr.machine import Journal, start
from pledges.http import payment_routes, pledges_routes
from pledges.links import PaymentDesk
from pledges.payments import StripeCheckout
from pledges.service import Pledges
from pledges.tote import read_sums
from records.database import connect, upgrade
from records.drain import Drain
from records.models import Contact
from records.wrapups import Wrapups
from sms.outbox import Outbox
from sms.recipients import store_in
from tests.integration.test_acd_http import AGENTS, ALICE, QUEUES, SAM, T0, Clock, api_app
from tests.integration.test_pledges_http import CAMPAIGN, SEAL, TELETHON_LINE
from tests.integration.test_pledges_http import Api as PledgesApi
from tests.integration.test_records_http import GRACE_S, KEYS, RULES

DONOR_NUMBER = "+15145550123"


@dataclass
class Api(PledgesApi):
    stripe: StripeStandIn
    caller_ref: str
    desk: PaymentDesk

    async def live_pledge(
        self, call_id: str, flow: Flow | None = None, **form: Any
    ) -> dict[str, Any]:
        """A pledge on a call still going on, whose caller the ACD holds; the caller chose
        French in the IVR, or started on the campaign's line of ``flow`` (its journal
        entries written as the IVR writes them) and chose nothing."""
        at = self.clock.now
        if flow is None:
            chosen = {"channel": call_id, "kind": "language", "detail": '{"language": "fr"}'}
            await self.redis.xadd(KEYS.journal, chosen)  # type: ignore[arg-type]
        else:
            _, commands = start(flow, datetime.now(UTC), TELETHON_LINE)
            for c in commands:
                if isinstance(c, Journal):
                    entry = {
                        "channel": call_id,
                        "kind": c.kind,
                        "detail": json.dumps(dict(c.detail)),
                    }
                    await self.redis.xadd(KEYS.journal, entry)  # type: ignore[arg-type]
        await self.telethon_call(call_id, self.caller_ref[:12], at, talk_s=None)
        caller = Caller(call_id, "q", "fr", "Calm Heron", at, caller_ref=self.caller_ref)
        await Records(self.redis, KEYS).save(put(caller))
        self.clock.now = at + 30
        status, pledge = await self.pledge(call_id, f"form-key-{call_id}", **form)
        assert status == 201
        return dict(pledge)

    async def hang_up(self, call_id: str) -> None:
        """The caller hangs up; alice wraps up and is free again 200 s later."""
        await self.store.complete(call_id, "alice", self.clock.now)
        self.clock.now += 200

    async def webhook(self, payload: bytes, signature: str | None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["Stripe-Signature"] = signature
        async with self.http.post("/pledges/webhooks/stripe", data=payload, headers=headers) as r:
            return r.status, await r.json()

    async def messages(self) -> list[dict[str, str]]:
        keys = [key async for key in self.redis.scan_iter(KEYS.sms_message("*"))]
        found = [cast(dict[str, str], await self.redis.hgetall(key)) for key in keys]
        return sorted(found, key=lambda m: m["created_at"])


class LinkClock:
    """The time the Stripe stand-in bills by and the app makes its links at: the wall clock
    until a test sets ``now``."""

    now: float | None = None

    def __call__(self) -> float:
        return time.time() if self.now is None else self.now


@pytest.fixture
def stripe_standin() -> Iterator[StripeStandIn]:
    server = StripeStandIn(clock=LinkClock()).start()
    yield server
    server.stop()


@pytest.fixture
def stripe_clock(stripe_standin: StripeStandIn) -> LinkClock:
    assert isinstance(stripe_standin.clock, LinkClock)
    return stripe_standin.clock


@pytest.fixture
async def api(
    redis_url: str, records_settings: RecordsSettings, stripe_standin: StripeStandIn
) -> AsyncIterator[Api]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    raw = redis.Redis.from_url(redis_url)
    engine = connect(records_settings)
    await upgrade(engine)
    store = AcdStore(client, KEYS, QUEUES)
    await store.sync_agents(list(AGENTS.values()))
    await store.login("alice", ("q",), AGENTS["alice"].devices[0], T0)
    vault = Vault(
        client, KEYS, hash_key=b"pledges-hash-key-0123456789",
        fernet_keys=[Fernet.generate_key()], default_region="CA",
    )  # fmt: skip
    ref = (await vault.store(DONOR_NUMBER, "fr", now=datetime.now(UTC))).ref
    outbox = Outbox(Queue("sms", connection=raw), KEYS, SmsSettings(), store_in(vault))
    clock = Clock()
    drain = Drain(client, KEYS, engine, clock=clock)
    wrapups = Wrapups(
        engine, drain, RULES, grace_s=GRACE_S, notes_max=200, region="CA", clock=clock
    )
    campaigns = {CAMPAIGN.name: CAMPAIGN}
    pledges = Pledges(engine, campaigns, wrapups, SEAL, region="CA", clock=clock)
    provider = StripeCheckout(
        stripe_standin.api_key,
        stripe_standin.webhook_secret,
        base_url=stripe_standin.base_url,
        success_url="https://telethon.example/thanks",
        clock=stripe_standin.clock,
    )
    desk = PaymentDesk(
        engine, campaigns, provider, AcdCallerRefs(client, KEYS),
        OutboxTexts(outbox, client, KEYS, "+18005550177"), clock=clock,
    )  # fmt: skip
    app = api_app(pledges_routes(pledges), payment_routes(desk))
    async with TestClient(TestServer(app)) as http:
        yield Api(http, store, client, clock, engine, drain, stripe_standin, ref, desk)
    await provider.close()
    await engine.dispose()
    await client.aclose()
    raw.close()


async def test_one_link_and_one_sms_per_pledge_however_often_asked(api: Api) -> None:
    pledge = await api.live_pledge("c1")
    path = f"/pledges/{pledge['id']}/link"
    asked = await asyncio.gather(*(api.call("POST", path, ALICE) for _ in range(3)))
    asked.append(await api.call("POST", path, SAM))
    assert {(status, body["status"]) for status, body in asked} == {(200, "link_sent")}
    (session,) = api.stripe.sessions
    assert (session["amount_total"], session["currency"], session["mode"]) == (
        5000,
        "eur",
        "payment",
    )
    assert session["metadata"] == {"pledge_id": pledge["id"]}
    (message,) = await api.messages()
    assert message["to_ref"] == api.caller_ref
    assert message["kind"] == "pledge-link"
    assert session["url"] in message["body"]
    assert message["body"].startswith("Merci pour votre promesse de don")  # the caller's language
    assert DONOR_NUMBER not in str(message)


async def test_the_webhook_marks_paid_once_and_refuses_bad_deliveries(api: Api) -> None:
    pledge = await api.live_pledge("c1")
    await api.call("POST", f"/pledges/{pledge['id']}/link", ALICE)
    (session,) = api.stripe.sessions
    paid = api.stripe.event(session["id"], "checkout.session.completed", payment_status="paid")
    status, body = await api.webhook(*paid)
    assert (status, body["pledge"], body["status"], body["changed"]) == (
        200, pledge["id"], "paid", True,
    )  # fmt: skip
    status, body = await api.webhook(*paid)  # delivered again
    assert (status, body["status"], body["changed"]) == (200, "paid", False)
    payload, _ = paid
    cases = [
        (None, 400, "unsigned-webhook"),
        (StripeStandIn().sign(payload), 400, "bad-signature"),  # another endpoint's secret
        (api.stripe.sign(payload, at=time.time() - 3600), 400, "stale-webhook"),  # replayed
        (api.stripe.sign(payload + b" "), 400, "bad-signature"),
    ]
    for signature, status, error in cases:
        got, body = await api.webhook(payload, signature)
        assert (got, body["error"]) == (status, error), signature
    stranger = api.stripe.event(
        session["id"], "checkout.session.completed",
        payment_status="paid", metadata={"pledge_id": "0" * 32},
    )  # fmt: skip
    got, body = await api.webhook(*stranger)
    assert (got, body["error"]) == (404, "no-such-pledge")
    late_failure = api.stripe.event(session["id"], "checkout.session.async_payment_failed")
    got, body = await api.webhook(*late_failure)
    assert (got, body["error"]) == (409, "pledge-paid")
    assert [row.status for row in await api.rows()] == ["paid"]


async def test_a_pledge_cancelled_before_it_is_paid_closes_its_link(api: Api) -> None:
    pledge = await api.live_pledge("c1")
    await api.call("POST", f"/pledges/{pledge['id']}/link", ALICE)
    status, body = await api.call("POST", f"/pledges/{pledge['id']}/cancel", ALICE)
    assert (status, body["error"]) == (403, "forbidden")
    for _ in range(2):  # again: the same answer
        status, body = await api.call("POST", f"/pledges/{pledge['id']}/cancel", SAM)
        assert (status, body["status"]) == (200, "cancelled")
    (session,) = api.stripe.sessions
    assert session["status"] == "expired"
    with pytest.raises(ValueError, match="expired"):  # the donor can no longer pay it
        api.stripe.event(session["id"], "checkout.session.completed", payment_status="paid")
    expired = api.stripe.event(session["id"], "checkout.session.expired")
    got, body = await api.webhook(*expired)  # Stripe's news of it: nothing to do
    assert (got, body["status"], body["changed"]) == (200, "cancelled", False)
    status, body = await api.call("POST", f"/pledges/{pledge['id']}/link", ALICE)
    assert (status, body["error"]) == (409, "pledge-cancelled")
    assert [row.status for row in await api.rows()] == ["cancelled"]
    assert len(await api.messages()) == 1


async def test_a_payment_made_as_its_pledge_was_cancelled_leaves_it_cancelled_and_stopped(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    monthly = await api.live_pledge("c1", frequency="monthly", day_of_month=5)
    await api.call("POST", f"/pledges/{monthly['id']}/link", ALICE)
    await api.hang_up("c1")
    one_off = await api.live_pledge("c2")
    await api.call("POST", f"/pledges/{one_off['id']}/link", ALICE)
    # each donor pays as staff cancel: the checkout completes (a monthly gift's subscription
    # made), and its webhook arrives after the cancel, which found the link paid
    paid = [
        api.stripe.event(session["id"], "checkout.session.completed", payment_status="paid")
        for session in api.stripe.sessions
    ]
    for pledge in (monthly, one_off):
        status, body = await api.call("POST", f"/pledges/{pledge['id']}/cancel", SAM)
        assert (status, body["status"]) == (200, "cancelled")
    assert [s["status"] for s in api.stripe.sessions] == ["complete", "complete"]
    with caplog.at_level("WARNING", logger="pledges.links"):
        for _ in range(2):  # redelivered (a 409 is retried by Stripe): stopped once, no error
            for event in paid:
                got, body = await api.webhook(*event)
                assert (got, body["error"]) == (409, "pledge-cancelled")
    (subscription,) = api.stripe.subscriptions  # the one-off gift had nothing to stop
    assert subscription["status"] == "canceled"
    assert {row.status for row in await api.rows()} == {"cancelled"}
    warned = [r.getMessage() for r in caplog.records if "after it was cancelled" in r.getMessage()]
    assert len(warned) == 4
    assert monthly["id"] in warned[0]
    assert "subscription stopped" in warned[0]
    assert "refund" in warned[0]
    assert one_off["id"] in warned[1]
    assert "subscription" not in warned[1]


async def test_delayed_payments_fail_then_succeed_and_sessions_expire(api: Api) -> None:
    first = await api.live_pledge("c1", frequency="monthly", day_of_month=5)
    await api.call("POST", f"/pledges/{first['id']}/link", ALICE)
    (session,) = api.stripe.sessions
    assert session["mode"] == "subscription"
    pending = api.stripe.event(session["id"], "checkout.session.completed")  # still unpaid
    status, body = await api.webhook(*pending)
    assert (status, body["pledge"], body["changed"]) == (200, None, False)
    failed = api.stripe.event(session["id"], "checkout.session.async_payment_failed")
    assert (await api.webhook(*failed))[1]["status"] == "failed"
    succeeded = api.stripe.event(session["id"], "checkout.session.async_payment_succeeded")
    assert (await api.webhook(*succeeded))[1]["status"] == "paid"
    await api.hang_up("c1")
    second = await api.live_pledge("c2")
    await api.call("POST", f"/pledges/{second['id']}/link", ALICE)
    expired = api.stripe.event(api.stripe.sessions[1]["id"], "checkout.session.expired")
    assert (await api.webhook(*expired))[1]["status"] == "expired"


async def test_links_only_for_sms_pledges_on_calls_still_held(api: Api) -> None:
    cheque = await api.live_pledge("c1", method="cheque", consent_sms=False)
    status, body = await api.call("POST", f"/pledges/{cheque['id']}/link", ALICE)
    assert (status, body["error"]) == (409, "not-an-sms-pledge")
    await api.hang_up("c1")
    pledge = await api.live_pledge("c2")
    await api.redis.delete(KEYS.acd_caller("c2"))  # the ACD no longer holds the caller
    status, body = await api.call("POST", f"/pledges/{pledge['id']}/link", ALICE)
    assert (status, body["error"]) == (409, "no-caller-number")
    assert api.stripe.sessions == []
    assert await api.messages() == []


async def test_an_unpaid_link_is_reminded_as_the_campaign_says_until_paid(api: Api) -> None:
    day = CAMPAIGN.reminder_every_s  # the demo: 2 reminders, 24 h apart
    unpaid = await api.live_pledge("c1")
    await api.call("POST", f"/pledges/{unpaid['id']}/link", ALICE)
    await api.hang_up("c1")
    paid = await api.live_pledge("c2")
    await api.call("POST", f"/pledges/{paid['id']}/link", ALICE)
    payload, signature = api.stripe.event(
        api.stripe.sessions[1]["id"], "checkout.session.completed", payment_status="paid"
    )
    assert (await api.webhook(payload, signature))[1]["status"] == "paid"
    assert await api.desk.remind() == 0  # not a day yet
    for _ in range(CAMPAIGN.reminders):
        api.clock.now += day
        assert await api.desk.remind() == 1  # the unpaid one only
        assert await api.desk.remind() == 0  # once per round
    api.clock.now += day
    assert await api.desk.remind() == 0  # no reminders left
    reminders = [m for m in await api.messages() if m["kind"] == "pledge-reminder"]
    assert len(reminders) == 2
    link = api.stripe.sessions[0]["url"]
    assert {m["body"] for m in reminders} == {CAMPAIGN.reminder_templates["fr"].format(link=link)}
    assert {m["to_ref"] for m in reminders} == {api.caller_ref}
    rows = {row.id: row for row in await api.rows()}
    assert (rows[unpaid["id"]].reminders_sent, rows[paid["id"]].reminders_sent) == (2, 0)


def at(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp())


async def test_a_monthly_gift_is_paid_at_checkout_then_on_its_day_until_its_instalments(
    api: Api, stripe_clock: LinkClock
) -> None:
    stripe_clock.now = at(2027, 1, 20, 10)  # the links are made on Jan 20, 2027
    pledge = await api.live_pledge("c1", frequency="monthly", day_of_month=5, instalments=13)
    await api.call("POST", f"/pledges/{pledge['id']}/link", ALICE)
    await api.hang_up("c1")
    open_ended = await api.live_pledge("c2", frequency="monthly", day_of_month=5)
    await api.call("POST", f"/pledges/{open_ended['id']}/link", ALICE)
    limited, unlimited = api.stripe.sessions
    assert (limited["mode"], limited["amount_total"]) == ("subscription", 5000)  # the first
    paid = api.stripe.event(limited["id"], "checkout.session.completed", payment_status="paid")
    for _ in range(2):  # delivered again: the same end, set once
        status, body = await api.webhook(*paid)
        assert (status, body["status"]) == (200, "paid")
    (subscription,) = api.stripe.subscriptions
    assert subscription["metadata"] == {"pledge_id": pledge["id"]}
    assert subscription["billing_cycle_anchor"] == at(2027, 2, 5, 12)
    # 13 instalments: at checkout, then on the 5th from February 2027 to January 2028
    on_the_fifth = [at(2027 + (m > 12), (m - 1) % 12 + 1, 5, 12) for m in range(2, 14)]
    billed = api.stripe.invoices(subscription["id"], until=at(2030, 1, 1))
    assert billed == [(at(2027, 1, 20, 10), 5000)] + [(t, 5000) for t in on_the_fifth]
    paid = api.stripe.event(unlimited["id"], "checkout.session.completed", payment_status="paid")
    assert (await api.webhook(*paid))[1]["status"] == "paid"
    assert [s["cancel_at"] for s in api.stripe.subscriptions] == [subscription["cancel_at"], None]
    endless = api.stripe.subscriptions[1]["id"]
    # at checkout, then on the 5th from February 2027 on, with no end
    assert len(api.stripe.invoices(endless, until=at(2030, 1, 1))) == 1 + 11 + 12 + 12


async def test_a_monthly_gift_for_tomorrow_is_billed_from_the_day_it_is_paid(
    api: Api, stripe_clock: LinkClock
) -> None:
    stripe_clock.now = at(2027, 1, 31, 10)  # Feb 1 next month is past Stripe's limit
    pledge = await api.live_pledge("c1", frequency="monthly", day_of_month=1, instalments=13)
    await api.call("POST", f"/pledges/{pledge['id']}/link", ALICE)
    (session,) = api.stripe.sessions
    assert session["amount_total"] == 5000  # the first instalment, at checkout
    paid = api.stripe.event(session["id"], "checkout.session.completed", payment_status="paid")
    assert (await api.webhook(*paid))[1]["status"] == "paid"
    (subscription,) = api.stripe.subscriptions
    assert subscription["billing_cycle_anchor"] == subscription["start_date"]
    # 13 monthly payments from Jan 31, 2027: the last on Jan 31, 2028, none on Feb 29
    assert subscription["cancel_at"] == at(2028, 2, 29, 10)
    billed = api.stripe.invoices(subscription["id"], until=at(2030, 1, 1))
    assert len(billed) == 13
    assert billed[1] == (at(2027, 2, 28, 10), 5000)


async def test_the_stripe_standin_refuses_the_sessions_stripe_refuses(
    stripe_standin: StripeStandIn, stripe_clock: LinkClock
) -> None:
    stripe_clock.now = now = at(2027, 1, 20, 10)
    price = {"currency": "eur", "unit_amount": 1000, "product_data": {"name": "Gift"}}
    monthly = {"price_data": {**price, "recurring": {"interval": "month"}}, "quantity": 1}
    once = {"price_data": price, "quantity": 1}
    base = {"success_url": "https://telethon.example/thanks"}
    anchored = {"billing_cycle_anchor": at(2027, 2, 5, 12)}
    http = stripe.AIOHTTPClient()
    client = stripe.StripeClient(
        stripe_standin.api_key,
        base_addresses={"api": stripe_standin.base_url},
        http_client=http,
    )
    refused: list[dict[str, Any]] = [
        {"mode": "payment", "line_items": [monthly]},
        {"mode": "payment", "line_items": [once], "subscription_data": anchored},
        {"mode": "subscription", "line_items": [once]},
        {"mode": "subscription", "line_items": [monthly],
         "subscription_data": {"billing_cycle_anchor": now - 60}},
        {"mode": "subscription", "line_items": [monthly],
         "subscription_data": {"billing_cycle_anchor": at(2027, 2, 20, 10)}},  # a month on
        {"mode": "subscription", "line_items": [monthly],
         "subscription_data": {**anchored, "proration_behavior": "always_invoice"}},
    ]  # fmt: skip
    try:
        for params in refused:
            with pytest.raises(stripe.InvalidRequestError):
                await client.v1.checkout.sessions.create_async(cast(Any, {**base, **params}))
        totals = []
        for proration in ("none", "create_prorations"):
            data = {**anchored, "proration_behavior": proration}
            params = {"mode": "subscription", "line_items": [monthly, once]}
            session = await client.v1.checkout.sessions.create_async(
                cast(Any, {**base, **params, "subscription_data": data})
            )
            totals.append(session.amount_total)
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]
    # the one-time price, and the 16 of 31 days until the anchor pro rata
    assert totals == [1000, 1000 + round(1000 * (at(2027, 2, 5, 12) - now) / (31 * 86400))]


async def test_a_paid_monthly_gift_cancelled_stops_its_subscription_once(api: Api) -> None:
    monthly = await api.live_pledge("c1", frequency="monthly", day_of_month=5)
    await api.call("POST", f"/pledges/{monthly['id']}/link", ALICE)
    await api.hang_up("c1")
    one_off = await api.live_pledge("c2")
    await api.call("POST", f"/pledges/{one_off['id']}/link", ALICE)
    for session in api.stripe.sessions:
        paid = api.stripe.event(session["id"], "checkout.session.completed", payment_status="paid")
        assert (await api.webhook(*paid))[1]["status"] == "paid"
    (subscription,) = api.stripe.subscriptions
    assert subscription["status"] == "active"
    paid_sums = await read_sums(api.engine, CAMPAIGN.name, api.clock.now)
    assert (paid_sums.paid, paid_sums.pledged, paid_sums.count) == (10000, 10000, 2)
    for _ in range(2):  # a retried cancel finds it stopped and does not fail
        status, body = await api.call("POST", f"/pledges/{monthly['id']}/cancel", SAM)
        assert (status, body["status"]) == (200, "cancelled")
    # its first instalment was received: the tote board keeps it
    assert await read_sums(api.engine, CAMPAIGN.name, api.clock.now) == paid_sums
    (subscription,) = api.stripe.subscriptions
    assert subscription["status"] == "canceled"
    assert subscription["canceled_at"] is not None
    # a one-off gift once paid is over: nothing to stop, so no cancel
    status, body = await api.call("POST", f"/pledges/{one_off['id']}/cancel", SAM)
    assert (status, body["error"]) == (409, "pledge-paid")
    statuses = {row.id: row.status for row in await api.rows()}
    assert statuses == {monthly["id"]: "cancelled", one_off["id"]: "paid"}


async def test_a_subscription_already_stopped_at_stripe_lets_its_pledge_cancel(
    api: Api,
) -> None:
    monthly = await api.live_pledge("c1", frequency="monthly", day_of_month=5)
    await api.call("POST", f"/pledges/{monthly['id']}/link", ALICE)
    (session,) = api.stripe.sessions
    paid = api.stripe.event(session["id"], "checkout.session.completed", payment_status="paid")
    assert (await api.webhook(*paid))[1]["status"] == "paid"
    (subscription,) = api.stripe.subscriptions
    # the subscription stopped at Stripe (from its dashboard, say) before the cancel
    headers = {"Authorization": f"Bearer {api.stripe.api_key}"}
    async with (
        aiohttp.ClientSession() as http,
        http.delete(
            f"{api.stripe.base_url}/v1/subscriptions/{subscription['id']}", headers=headers
        ) as first,  # fmt: skip
        http.delete(
            f"{api.stripe.base_url}/v1/subscriptions/{subscription['id']}", headers=headers
        ) as again,  # fmt: skip
    ):
        assert (first.status, again.status) == (200, 400)
        assert (await again.json())["error"]["type"] == "invalid_request_error"
    status, body = await api.call("POST", f"/pledges/{monthly['id']}/cancel", SAM)
    assert (status, body["status"]) == (200, "cancelled")
    assert [s["status"] for s in api.stripe.subscriptions] == ["canceled"]


async def test_a_caller_who_chose_no_language_gets_the_campaigns_in_contact_pledge_and_sms(
    api: Api,
) -> None:
    flow = load_flow(DEMO_FLOW)  # English by default; the campaign's own line skips the menu
    french = {CAMPAIGN.name: dataclasses.replace(CAMPAIGN, language="fr")}
    pledge = await api.live_pledge("c1", with_campaign_languages(flow, french))
    assert pledge["language"] == "fr"
    await api.call("POST", f"/pledges/{pledge['id']}/link", ALICE)
    await api.hang_up("c1")
    english = await api.live_pledge("c2", with_campaign_languages(flow, {CAMPAIGN.name: CAMPAIGN}))
    assert english["language"] == flow.default_language == "en"
    await api.call("POST", f"/pledges/{english['id']}/link", ALICE)
    links = [session["url"] for session in api.stripe.sessions]
    assert [m["body"] for m in await api.messages()] == [
        CAMPAIGN.sms_templates["fr"].format(link=links[0]),
        CAMPAIGN.sms_templates["en"].format(link=links[1]),
    ]
    async with AsyncSession(api.engine) as session:
        contacts = {c.id: c.language for c in (await session.scalars(select(Contact))).all()}
    assert contacts == {"c1": "fr", "c2": "en"}
