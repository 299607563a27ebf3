"""Pledges over real HTTP, on both databases, for calls the real ACD store put through (its
queue log drained into the records): saved once whatever is resubmitted, corrected by their
operator until the wrap-up closes, a returning donor's form prefilled by keyed reference, and
the error id of each refusal."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from acd.store import AcdStore
from core.config import RecordsSettings
from pledges.campaigns import DEMO_CAMPAIGNS, load_campaigns
from pledges.donors import DonorSeal
from pledges.http import export_routes, on_air_routes, pledges_routes
from pledges.models import Pledge
from pledges.service import Pledges
from records.database import connect, upgrade
from records.drain import Drain
from records.wrapups import Wrapups
from tests.integration.test_acd_http import (
    AGENTS,
    ALICE,
    BRUNO,
    QUEUES,
    SAM,
    T0,
    Clock,
    api_app,
)
from tests.integration.test_records_http import GRACE_S, KEYS, RULES
from tests.integration.test_records_http import Api as RecordsApi

CAMPAIGN = dataclasses.replace(load_campaigns(DEMO_CAMPAIGNS)["demo-telethon"], queue="q")
TELETHON_LINE, HELPLINE = CAMPAIGN.dids[0], "+18005550100"
SEAL = DonorSeal([Fernet.generate_key()])
FORM = {"amount": 5000, "consent_sms": True}
DONOR = {"name": "Ada Lovelace", "address": "12 rue des Lilas, 75011 Paris"}


@dataclass
class Api(RecordsApi):
    async def telethon_call(self, call_id: str, caller_key: str, at: float, **kw: Any) -> str:
        """A caller on ``line`` (the telethon's by default) whom alice answers at ``at`` + 5."""
        line = kw.pop("line", TELETHON_LINE)
        detail = json.dumps({"caller": f"h:{caller_key}", "did": line, "pseudonym": "Calm Heron"})
        await self.redis.xadd(KEYS.journal, {"channel": call_id, "kind": "call", "detail": detail})
        return await self.answered(call_id, at, **kw)

    async def pledge(
        self, call_id: str, key: str, token: str = ALICE, **form: Any
    ) -> tuple[int, Any]:
        body = {**FORM, "client_key": key, **form}
        return await self.call("POST", f"/acd/calls/{call_id}/pledges", token, body)

    async def rows(self) -> list[Pledge]:
        async with AsyncSession(self.engine) as session:
            return list((await session.scalars(select(Pledge).order_by(Pledge.created_at))).all())


@pytest.fixture
async def api(redis_url: str, records_settings: RecordsSettings) -> AsyncIterator[Api]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    engine = connect(records_settings)
    await upgrade(engine)
    store = AcdStore(client, KEYS, QUEUES)
    await store.sync_agents(list(AGENTS.values()))
    await store.login("alice", ("q",), AGENTS["alice"].devices[0], T0)
    clock = Clock()
    drain = Drain(client, KEYS, engine, clock=clock)
    wrapups = Wrapups(
        engine, drain, RULES, grace_s=GRACE_S, notes_max=200, region="CA", clock=clock
    )
    pledges = Pledges(engine, {CAMPAIGN.name: CAMPAIGN}, wrapups, SEAL, region="CA", clock=clock)
    exports = export_routes(engine, client, KEYS, [CAMPAIGN.name], clock)
    on_air = on_air_routes(engine, [CAMPAIGN.name], clock)
    async with TestClient(TestServer(api_app(pledges_routes(pledges), exports, on_air))) as http:
        yield Api(http, store, client, clock, engine, drain)
    await engine.dispose()
    await client.aclose()


async def test_a_pledge_is_saved_once_however_often_it_is_submitted(api: Api) -> None:
    call = await api.telethon_call("c1", "0123456789ab", T0, talk_s=None)
    api.clock.now = T0 + 30
    comment = "Donor read out 4111 1111 1111 1111 and asked to be called on 514 555 0123"
    status, first = await api.pledge(call, "form-0001", comment=comment, on_air=True, alias="Ada")
    assert status == 201
    assert (first["amount"], first["currency"], first["status"]) == (5000, "EUR", "pledged")
    assert (first["campaign"], first["agent"], first["pseudonym"]) == (
        "demo-telethon", "alice", "Calm Heron",
    )  # fmt: skip
    assert first["comment"] == (
        "Donor read out [card number removed] and asked to be called on [phone number removed]"
    )
    assert first["removed"] == {"card": 1, "phone": 1}
    status, again = await api.pledge(call, "form-0001", amount=9999)
    assert (status, again) == (200, first)
    raced = await asyncio.gather(*(api.pledge(call, "form-0002") for _ in range(4)))
    assert sorted(status for status, _ in raced) == [200, 200, 200, 201]
    assert len({body["id"] for _, body in raced}) == 1
    rows = await api.rows()
    assert len(rows) == 2
    assert rows[0].donor_key == "0123456789ab"
    assert "4111" not in rows[0].comment


async def test_each_refusal_has_its_status_and_error_id(api: Api) -> None:
    helpline = await api.telethon_call("c2", "0123456789ab", T0, line=HELPLINE)
    call = await api.telethon_call("c1", "0123456789ab", T0 + 100, talk_s=None)
    api.clock.now = T0 + 130
    cases: list[tuple[str, dict[str, Any], str, int, str]] = [
        (call, {"amount": 499}, ALICE, 400, "amount-out-of-range"),
        (call, {"amount": 500_001}, ALICE, 400, "amount-out-of-range"),
        (call, {"amount": "50"}, ALICE, 400, "bad-request"),
        (call, {"card_number": "4111111111111111"}, ALICE, 400, "bad-request"),
        (call, {"receipt": True, "donor": {"name": "Ada"}}, ALICE, 400,
         "receipt-needs-name-and-address"),
        (call, {"frequency": "monthly"}, ALICE, 400, "day-out-of-range"),
        (call, {"frequency": "weekly"}, ALICE, 400, "bad-request"),
        (call, {"consent_sms": False}, ALICE, 400, "sms-consent-required"),
        (call, {}, BRUNO, 403, "not-your-call"),
        ("nowhere", {}, ALICE, 404, "no-such-call"),
        (helpline, {}, ALICE, 409, "not-a-campaign-call"),
    ]  # fmt: skip
    for i, (call_id, form, token, status, error) in enumerate(cases):
        got, body = await api.pledge(call_id, f"refused-{i:03}", token, **form)
        assert (got, body["error"]) == (status, error), form
    got, body = await api.pledge(call, "short")
    assert (got, body["error"]) == (400, "bad-client-key")
    assert await api.rows() == []
    _, saved = await api.pledge(call, "form-0001")
    got, body = await api.pledge(call, "form-0001", token=BRUNO)
    assert (got, body["error"]) == (403, "not-your-call")
    assert saved["id"]


async def test_its_operator_corrects_a_pledge_until_the_wrapup_closes(api: Api) -> None:
    call = await api.telethon_call("c1", "0123456789ab", T0)  # ends T0 + 65, wrap-up 30 s
    api.clock.now = T0 + 70
    _, saved = await api.pledge(call, "form-0001")
    path = f"/pledges/{saved['id']}"
    status, corrected = await api.call("PUT", path, ALICE, {**FORM, "amount": 10_000})
    assert (status, corrected["amount"], corrected["id"]) == (200, 10_000, saved["id"])
    status, body = await api.call("PUT", path, ALICE, {**FORM, "amount": 1})
    assert (status, body["error"]) == (400, "amount-out-of-range")
    status, body = await api.call("PUT", path, BRUNO, FORM)
    assert (status, body["error"]) == (403, "not-your-pledge")
    status, body = await api.call("GET", path, BRUNO)
    assert (status, body["error"]) == (403, "not-your-pledge")
    status, read = await api.call("GET", path, SAM)
    assert (status, read["amount"]) == (200, 10_000)
    api.clock.now = T0 + 65 + 30 + GRACE_S + 1
    status, body = await api.call("PUT", path, ALICE, FORM)
    assert (status, body["error"]) == (409, "pledge-closed")
    status, body = await api.call("PUT", "/pledges/0000", ALICE, FORM)
    assert (status, body["error"]) == (404, "no-such-pledge")
    status, late = await api.pledge(call, "form-0001")  # a resubmission arriving late
    assert (status, late["amount"]) == (200, 10_000)
    status, body = await api.pledge(call, "form-0002")
    assert (status, body["error"]) == (409, "pledge-closed")
    assert [row.amount for row in await api.rows()] == [10_000]


async def test_a_returning_donor_finds_the_form_prefilled(api: Api) -> None:
    first = await api.telethon_call("c1", "0123456789ab", T0)
    api.clock.now = T0 + 70
    receipt: dict[str, Any] = {"receipt": True, "donor": DONOR, "keep_details": True}
    assert (await api.pledge(first, "form-0001", **receipt))[0] == 201
    stranger = await api.telethon_call("c2", "ba9876543210", T0 + 100)
    api.clock.now = T0 + 170
    assert (await api.pledge(stranger, "form-0002", receipt=True, donor=DONOR))[0] == 201
    again = await api.telethon_call("c3", "0123456789ab", T0 + 200)
    status, form = await api.call("GET", f"/acd/calls/{again}/pledge-form", ALICE)
    assert status == 200
    assert (form["campaign"], form["currency"], form["presets"]) == (
        "demo-telethon", "EUR", [2000, 5000, 10_000],
    )  # fmt: skip
    assert [(p["call_id"], p["amount"]) for p in form["earlier"]] == [("c1", 5000)]
    assert form["donor"] == {**DONOR, "email": ""}
    assert form["pseudonym"] == "Calm Heron"
    # The stranger gave details for a receipt only: kept sealed, never shown again.
    returning = await api.telethon_call("c4", "ba9876543210", T0 + 300, talk_s=None)
    _, form = await api.call("GET", f"/acd/calls/{returning}/pledge-form", ALICE)
    assert ([p["call_id"] for p in form["earlier"]], form["donor"]) == (["c2"], None)
    status, body = await api.call("GET", f"/acd/calls/{returning}/pledge-form", BRUNO)
    assert (status, body["error"]) == (403, "not-your-call")
    for row in await api.rows():
        assert "Lovelace" not in row.donor_sealed
        assert SEAL.open(row.donor_sealed).name == "Ada Lovelace"


async def test_staff_export_the_accounting_csv_audited(api: Api) -> None:
    call = await api.telethon_call("c1", "0123456789ab", T0, talk_s=None)
    api.clock.now = T0 + 30
    _, saved = await api.pledge(call, "form-0001", receipt=True, donor=DONOR)
    path = "/reports/pledges?campaign=demo-telethon"
    headers = {"Authorization": f"Bearer {SAM}"}
    async with api.http.get(path, headers=headers) as resp:
        assert (resp.status, resp.content_type) == (200, "text/csv")
        text = await resp.text()
    assert text.splitlines()[1].startswith(f"{saved['id']},demo-telethon,")
    assert "Lovelace" not in text
    async with api.http.get(path + "&since=2030-01-01", headers=headers) as resp:
        assert len((await resp.text()).splitlines()) == 1  # the header only
    for token, query, status, error in [
        (ALICE, path, 403, "forbidden"),
        (SAM, "/reports/pledges?campaign=nope", 404, "no-such-campaign"),
        (SAM, path + "&since=yesterday", 400, "bad-period"),
    ]:
        got, body = await api.call("GET", query, token)
        assert (got, body["error"]) == (status, error)
    audited = cast(list[tuple[str, dict[str, str]]], await api.redis.xrange(KEYS.staff_audit))
    assert [(e["actor"], e["action"], e["target"]) for _, e in audited] == [
        ("sam", "export", "demo-telethon")
    ] * 2


async def test_the_presenter_reads_aliases_on_air_once(api: Api) -> None:
    call = await api.telethon_call("c1", "0123456789ab", T0, talk_s=None)
    api.clock.now = T0 + 30
    named: dict[str, Any] = {"on_air": True, "alias": "Ada from Lyon", "donor": DONOR}
    _, first = await api.pledge(call, "form-0001", amount=2000, **named)
    _, quiet = await api.pledge(call, "form-0002", amount=3000)
    api.clock.now = T0 + 40
    _, second = await api.pledge(call, "form-0003", amount=5000, on_air=True, alias="Bob")
    status, body = await api.call("GET", "/on-air/demo-telethon", SAM)
    assert status == 200
    assert [(p["pledge"], p["alias"], p["amount"]) for p in body["pledges"]] == [
        (first["id"], "Ada from Lyon", 2000), (second["id"], "Bob", 5000),
    ]  # fmt: skip
    assert "Lovelace" not in json.dumps(body)
    read = f"/on-air/demo-telethon/{first['id']}/read"
    assert (await api.call("POST", read, SAM))[1] == {"pledge": first["id"], "marked": True}
    assert (await api.call("POST", read, SAM))[1] == {"pledge": first["id"], "marked": False}
    _, body = await api.call("GET", "/on-air/demo-telethon?count=5", SAM)
    assert [p["pledge"] for p in body["pledges"]] == [second["id"]]
    for token, method, path, status, error in [
        (ALICE, "GET", "/on-air/demo-telethon", 403, "forbidden"),
        (SAM, "GET", "/on-air/nope", 404, "no-such-campaign"),
        (SAM, "POST", f"/on-air/demo-telethon/{quiet['id']}/read", 404, "no-such-pledge"),
    ]:
        got, body = await api.call(method, path, token)
        assert (got, body["error"]) == (status, error)
