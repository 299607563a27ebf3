"""The pledge form in the console over real HTTP, a real Redis and ACD store and the pledges
service on SQLite: an operator's answer of a campaign call sends the form, prefilled for a
returning donor, on their event stream only and with no number in it; saving goes through the
pledges API's rules (once per form, corrected by its operator, refusals with ids and
messages in the session's language, CSRF)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import ClientResponse
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bench.stripe_standin import StripeStandIn
from console.i18n import load_translations
from console.pledges import MESSAGES
from pledges.models import Pledge
from pledges.rules import DonorDetails, Method, PledgeForm
from pledges.service import Pledges
from tests.conftest import CALLER
from tests.consoles import CAMPAIGN, Console, console_running, read_event
from tests.integration.test_pledges_payments import stripe_standin  # noqa: F401  (fixture)

DONOR = DonorDetails("Ada Lovelace", "12 rue des Lilas, 75011 Paris")
AS_JSON = {"Accept": "application/json"}


@pytest.fixture
async def console(
    redis_url: str,
    tmp_path: Path,
    stripe_standin: StripeStandIn,  # noqa: F811
) -> AsyncIterator[Console]:
    async with console_running(
        redis_url, tmp_path, campaign=CAMPAIGN, stripe=stripe_standin
    ) as running:
        yield running


def service(console: Console) -> Pledges:
    assert console.pledges is not None
    return console.pledges


async def returning_donor(console: Console) -> str:
    """A caller whose number is in the vault and who pledged before, keeping their details;
    their vault ref."""
    entry = await console.vault.store(CALLER, "fr", now=datetime.now(UTC))
    await earlier_pledge(service(console), entry.ref[:12])
    return entry.ref


async def earlier_pledge(pledges: Pledges, donor_key: str) -> None:
    """A paid cheque of an hour ago by the donor ``donor_key``, who asked for a receipt and
    for their details to be kept."""
    now = time.time() - 3600
    async with AsyncSession(pledges.engine) as session, session.begin():
        session.add(
            Pledge(
                id=uuid.uuid4().hex, campaign=CAMPAIGN.name, client_key="earlier-form",
                call_id="c0", agent="bruno", donor_key=donor_key, pseudonym="Calm Heron",
                language="fr", amount=5000, currency="EUR", frequency="one_off",
                day_of_month=None, instalments=None, method="cheque", receipt=True,
                donor_sealed=pledges.seal.seal(DONOR), keep_details=True, status="paid",
                created_at=now, updated_at=now, paid_at=now,
            )
        )  # fmt: skip


async def events_until(resp: ClientResponse, name: str) -> list[dict[str, str]]:
    seen = [await read_event(resp)]
    while seen[-1]["event"] != name:
        seen.append(await read_event(resp))
    return seen


async def test_the_operator_who_answers_gets_the_form_prefilled_and_never_a_number(
    console: Console,
) -> None:
    ref = await returning_donor(console)
    assert await console.sign_in("alice") == 303
    async with console.http.get("/console/events") as resp:
        await console.campaign_call("alice", "c1", ref)
        seen = await events_until(resp, "pledge")
    assert [e["event"] for e in seen].count("offer") == 1  # the pop came first
    form = json.loads(seen[-1]["data"])
    assert (form["call_id"], form["campaign"], form["title"]) == (
        "c1",
        CAMPAIGN.name,
        CAMPAIGN.title,
    )
    assert (form["pseudonym"], form["currency"], form["presets"]) == (
        "Calm Heron", "EUR", [2000, 5000, 10_000],
    )  # fmt: skip
    assert (form["minimum"], form["maximum"], form["receipt"]) == (500, 500_000, "name_and_address")
    assert [(p["amount"], p["status"]) for p in form["earlier"]] == [(5000, "paid")]
    assert form["donor"] == {"name": DONOR.name, "address": DONOR.address, "email": ""}
    streamed = json.dumps(seen)
    for digits in (CALLER, CALLER.lstrip("+"), CALLER[2:], "555 0123", "5550123"):
        assert digits not in streamed
    # Another operator's stream, replayed from the start, holds nothing of Alice's call.
    csrf = await console.csrf("/console/volunteer")
    async with console.http.post("/console/signout", data={"csrf": csrf}) as out:
        assert out.status == 200  # followed to the sign-in page
    assert await console.sign_in("bruno") == 303
    async with console.http.get("/console/events", headers={"Last-Event-ID": "0-0"}) as resp:
        await console.log_in("bruno", ("general",), time.time())
        theirs = await events_until(resp, "presence")
    assert [e["event"] for e in theirs] == ["presence"]


async def test_the_form_saves_once_is_corrected_and_refuses_with_clear_errors(
    console: Console,
) -> None:
    await console.campaign_call("alice", "c1", "0123456789ab")
    assert await console.sign_in("alice") == 303
    base = {"call": "c1", "client_key": "form-0001", "amount": "50", "consent_sms": "1"}

    async def post(fields: dict[str, str]) -> tuple[int, dict[str, object]]:
        data = {**fields, "csrf": await console.csrf("/console/volunteer")}
        async with console.http.post("/console/pledges", data=data, headers=AS_JSON) as resp:
            return resp.status, await resp.json()

    async def count() -> int:
        async with AsyncSession(service(console).engine) as session:
            return await session.scalar(select(func.count()).select_from(Pledge)) or 0

    async with console.http.post("/console/pledges", data=base, headers=AS_JSON) as resp:
        assert resp.status == 403  # no CSRF token
    no_consent = {k: v for k, v in base.items() if k != "consent_sms"}
    refusals = {
        "amount-out-of-range": {**base, "amount": "4.99"},
        "bad-amount": {**base, "amount": "fifty"},
        "bad-number": {**base, "frequency": "monthly", "day_of_month": "1st"},
        "day-out-of-range": {**base, "frequency": "monthly", "day_of_month": "31"},
        "receipt-needs-name-and-address": {**base, "receipt": "1", "name": "Ada Lovelace"},
        "sms-consent-required": no_consent,
    }
    for error, fields in refusals.items():
        status, body = await post(fields)
        assert (status, body["error"]) == (400, error)
        assert body["message"] == MESSAGES[error]
    assert await count() == 0

    comment = "Read out 4111 1111 1111 1111, call back on 514 555 0123"
    status, first = await post({**base, "amount": "12,50", "comment": comment})
    assert (status, first["created"]) == (201, True)
    pledge = first["pledge"]
    assert isinstance(pledge, dict)
    assert (pledge["amount"], pledge["agent"], pledge["status"]) == (1250, "alice", "pledged")
    assert pledge["comment"] == (
        "Read out [card number removed], call back on [phone number removed]"
    )
    # The same form again (a double click): the first pledge, nothing doubled.
    assert await post({**base, "amount": "99"}) == (200, {**first, "created": False})
    assert await count() == 1

    status, corrected = await post({**base, "pledge": str(pledge["id"]), "amount": "75"})
    assert status == 200
    assert isinstance(corrected["pledge"], dict)
    assert (corrected["pledge"]["id"], corrected["pledge"]["amount"]) == (pledge["id"], 7500)
    assert await count() == 1

    french = {"language": "fr", "csrf": await console.csrf("/console/volunteer")}
    async with console.http.post("/console/language", data=french) as resp:
        assert resp.status == 200
    status, body = await post({**base, "client_key": "form-0002", "receipt": "1"})
    error = "receipt-needs-name-and-address"
    assert (status, body["error"]) == (400, error)
    assert body["message"] == load_translations()["fr"].gettext(MESSAGES[error])
    assert str(body["message"]).startswith("Un reçu fiscal demande le nom")


async def test_only_the_operator_who_took_the_call_saves_or_corrects_its_pledge(
    console: Console,
) -> None:
    await console.campaign_call("alice", "c1", "0123456789ab")
    saved = await service(console).save(
        "c1", "alice", "form-0001", PledgeForm(5000, consent_sms=True)
    )
    assert await console.sign_in("bruno") == 303
    base = {"call": "c1", "client_key": "form-0002", "amount": "50", "consent_sms": "1"}
    for fields, error in (
        (base, "not-your-call"),
        ({**base, "pledge": saved.pledge.id}, "not-your-pledge"),
    ):
        data = {**fields, "csrf": await console.csrf("/console/volunteer")}
        async with console.http.post("/console/pledges", data=data, headers=AS_JSON) as resp:
            assert (resp.status, (await resp.json())["error"]) == (403, error)
    assert (await service(console).get(saved.pledge.id)).amount == 5000


async def test_the_operator_texts_the_payment_link_once(
    console: Console,
    stripe_standin: StripeStandIn,  # noqa: F811
) -> None:
    ref = await returning_donor(console)
    await console.campaign_call("alice", "c1", ref)
    cheque = await service(console).save(
        "c1", "alice", "form-0001", PledgeForm(2000, method=Method.CHEQUE)
    )
    form = PledgeForm(5000, consent_sms=True)
    by_sms = await service(console).save("c1", "alice", "form-0002", form)
    assert await console.sign_in("alice") == 303

    async def link(pledge_id: str) -> tuple[int, dict[str, object]]:
        data = {"pledge": pledge_id, "csrf": await console.csrf("/console/volunteer")}
        async with console.http.post("/console/pledges/link", data=data, headers=AS_JSON) as resp:
            return resp.status, await resp.json()

    status, body = await link(cheque.pledge.id)
    assert (status, body["error"]) == (409, "not-an-sms-pledge")
    for _ in range(2):  # asked again: the same link, one SMS
        status, body = await link(by_sms.pledge.id)
        assert status == 200
        assert isinstance(body["pledge"], dict)
        assert body["pledge"]["status"] == "link_sent"
    assert len(stripe_standin.sessions) == 1
    queued = [key async for key in console.store.redis.scan_iter(console.keys.sms_message("*"))]
    assert len(queued) == 1
    message = await console.store.redis.hgetall(queued[0])
    assert CALLER not in json.dumps(message)  # the outbox holds the vault's ref, never the number
    assert stripe_standin.sessions[0]["url"] in message["body"]


async def test_a_page_reloaded_mid_call_or_in_its_wrap_up_reopens_the_form_and_pledge(
    console: Console,
) -> None:
    ref = await returning_donor(console)
    await console.campaign_call("alice", "c1", ref)
    given = DonorDetails("Ada King", "1 St James's Square, London")
    form = PledgeForm(7500, receipt=True, donor=given, consent_sms=True, on_air=True, alias="Ada")
    saved = await service(console).save("c1", "alice", "form-0001", form)
    assert await console.sign_in("alice") == 303
    async with console.http.get("/console/events") as resp:  # a reload: no Last-Event-ID
        first = await read_event(resp)
    assert first["event"] == "pledge"
    reopened = json.loads(first["data"])
    assert (reopened["call_id"], reopened["campaign"]) == ("c1", CAMPAIGN.name)
    assert reopened["saved"]["id"] == saved.pledge.id
    assert (reopened["saved"]["amount"], reopened["saved"]["alias"]) == (7500, "Ada")
    # this call's donor details, not the ones kept from the earlier pledge, so a correction
    # keeps what the operator typed
    assert reopened["donor"] == {"name": given.name, "address": given.address, "email": ""}
    assert [(p["amount"], p["status"]) for p in reopened["earlier"]] == [(5000, "paid")]
    for digits in (CALLER, CALLER.lstrip("+"), CALLER[2:], "5550123"):
        assert digits not in first["data"]

    # A reconnect replaying the answer gets the form once.
    async with console.http.get("/console/events", headers={"Last-Event-ID": "0-0"}) as resp:
        seen = await events_until(resp, "pledge")
        seen += await events_until(resp, "presence")
        # the call ends at a time 10 minutes ahead, so its queue's 1 s wrap-up outlasts the test
        await console.store.complete("c1", "alice", time.time() + 600)
        while not (seen[-1]["event"] == "presence" and '"wrap_up"' in seen[-1]["data"]):
            seen.append(await read_event(resp))
    assert [e["event"] for e in seen].count("pledge") == 1

    # A reload in the wrap-up: the call's pop (sent by the reconnect), then the form again,
    # its pledge still corrected by saving.
    async with console.http.get("/console/events") as resp:
        reopened_events = await events_until(resp, "pledge")
    assert [e["event"] for e in reopened_events] == ["offer", "earlier", "pledge"]
    wrapping = reopened_events[-1]
    assert json.loads(wrapping["data"])["saved"]["id"] == saved.pledge.id
    fields = {"pledge": saved.pledge.id, "amount": "80", "consent_sms": "1"}
    data = {**fields, "csrf": await console.csrf("/console/volunteer")}
    async with console.http.post("/console/pledges", data=data, headers=AS_JSON) as answer:
        corrected = await answer.json()
        assert (answer.status, corrected["pledge"]["amount"]) == (200, 8000)

    # Once the wrap-up is over, a reload opens no form.
    await console.store.end_wrapup("alice", time.time())
    async with console.http.get("/console/events") as resp:
        await console.store.pause("alice", "break", time.time())  # an event to wait for
        after_wrapup = await events_until(resp, "presence")
    assert "pledge" not in [e["event"] for e in after_wrapup]
