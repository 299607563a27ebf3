"""A telethon end to end: SIPp callers through the private Asterisk reach Erin, a nailed-up
operator (her phone rung once for the session), in the campaign's queue; she works their calls
over the app's HTTP API as the pledge form does. A returning donor's form opens with their
earlier pledge and details, found by keyed reference; the pledge's payment link reaches their
phone through an RQ worker and the Twilio stand-in; the Stripe stand-in's signed webhook marks
it paid; the public tote board's JSON follows."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest

from bench.stripe_standin import StripeStandIn
from bench.twilio_standin import StandIn
from core.config import Settings
from core.keys import Keys
from hotline.app import HotlineApp
from hotline.harness import PrivateAsterisk
from ivr.flow import load_flow
from tests.conftest import (
    CALLER,
    CallResult,
    agent_phone,
    place_call,
    running_app,
    wait_until_idle,
    worker_process,
)
from tests.e2e.test_acd_calls import log_in
from tests.e2e.test_drills import STRAIGHT

pytestmark = pytest.mark.e2e

TOKEN = "erin-telethon-token-0123"
CAMPAIGN = "e2e-telethon"
DONOR = {"name": "Ada Lovelace", "address": "12 rue des Lilas, 75011 Paris", "email": ""}


def campaign_file(path: Path, line: str) -> Path:
    """A campaign on the test's line whose operators are the "general" queue's."""
    path.write_text(
        f'[campaigns.{CAMPAIGN}]\ntitle = "E2E Telethon"\ndids = ["{line}"]\n'
        'queue = "general"\ncurrency = "EUR"\ngoal = 1000\nmilestones = [100]\n'
        "presets = [20, 50]\nminimum = 5\nmaximum = 500\none_off = true\nmonthly = false\n"
        'provider = "stripe"\nreceipt = "name_and_address"\nreminders = 0\n'
        f"reminder_every_h = 24\n\n[campaigns.{CAMPAIGN}.sms]\n"
        'en = "Thank you! Pay here: {link}"\nfr = "Merci ! Payez ici : {link}"\n'
    )
    return path


@pytest.fixture
def twilio() -> Iterator[StandIn]:
    server = StandIn(callbacks=False).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def stripe() -> Iterator[StripeStandIn]:
    server = StripeStandIn().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def telethon(
    settings: Settings, twilio: StandIn, stripe: StripeStandIn, tmp_path: Path
) -> Settings:
    """The test settings with the campaign, both stand-ins, Erin's token and a fast drain."""
    return dataclasses.replace(
        settings,
        pledges=dataclasses.replace(
            settings.pledges,
            campaigns=str(campaign_file(tmp_path / "campaigns.toml", settings.asterisk.dids[0])),
            stripe_url=stripe.base_url,
        ),
        sms=dataclasses.replace(
            settings.sms,
            twilio_base_url=twilio.base_url,
            sender_type="short_code",
            retry_base_seconds=0,
            provider_timeout=2.0,
        ),
        records=dataclasses.replace(settings.records, drain_every_s=0.2),
        secrets=dataclasses.replace(
            settings.secrets,
            api_tokens=f"erin:agent:{TOKEN}",
            twilio_account_sid=twilio.account_sid,
            twilio_auth_token=twilio.auth_token,
            stripe_api_key=stripe.api_key,
            stripe_webhook_secret=stripe.webhook_secret,
        ),
    )


@dataclasses.dataclass
class Desk:
    """Erin's side of the pledge form: the app's HTTP API with her token."""

    http: aiohttp.ClientSession
    url: str

    async def call(self, method: str, path: str, body: object = None, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {TOKEN}", **kw.pop("headers", {})}
        async with self.http.request(
            method, self.url + path, json=body, headers=headers, **kw
        ) as response:
            found = await response.json()
            assert response.status in (200, 201), (method, path, response.status, found)
            return found

    async def board(self) -> dict[str, Any]:
        async with self.http.get(f"{self.url}/tote/{CAMPAIGN}/board.json") as response:
            assert response.status == 200
            board: dict[str, Any] = await response.json()
            return board


async def connected_call(app: HotlineApp, nth: int, within: float = 20) -> str:
    """The call of Erin's ``nth`` CONNECT in the queue log, once there is one."""
    key = Keys(app.settings.redis.prefix).acd_queue_log
    deadline = time.monotonic() + within
    while True:
        entries = cast(list[tuple[str, dict[str, str]]], await app.redis.xrange(key))
        calls = [f["call"] for _, f in entries if f["event"] == "CONNECT" and f["agent"] == "erin"]
        if len(calls) >= nth:
            return str(calls[nth - 1])
        assert time.monotonic() < deadline, f"no CONNECT number {nth} for erin: {entries}"
        await asyncio.sleep(0.05)


async def hang_up(app: HotlineApp, call_id: str, caller: asyncio.Task[CallResult]) -> None:
    """The caller's side ends (as the donor hanging up): SIPp gets its BYE."""
    await app.ari.hangup(call_id)
    result = await caller
    assert result.ok, result.output[-2000:]


async def test_a_returning_donor_pledges_pays_by_sms_link_and_the_tote_board_moves(
    telethon: Settings,
    asterisk: PrivateAsterisk,
    phone_ports: dict[str, int],
    twilio: StandIn,
    stripe: StripeStandIn,
    tmp_path: Path,
) -> None:
    flow = load_flow(STRAIGHT, languages=telethon.ivr.languages)
    url = f"http://127.0.0.1:{telethon.http.port}"
    async with (
        running_app(telethon, flow) as app,
        worker_process(telethon, tmp_path / "worker.log"),
        aiohttp.ClientSession() as http,
    ):
        desk = Desk(http, url)
        await asyncio.wait_for(app.records.ready.wait(), 20)  # migrated
        await log_in(app, "erin")  # nailed up, on the phone at Alice's port
        phone = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path, max_seconds=50))
        before = await desk.board()

        # A first call: a new donor, who wants a receipt and lets the campaign keep details.
        first = asyncio.create_task(place_call(asterisk, max_seconds=40))
        call = await connected_call(app, 1)
        form = await desk.call("GET", f"/acd/calls/{call}/pledge-form")
        assert (form["campaign"], form["earlier"], form["donor"]) == (CAMPAIGN, [], None)
        one = {"client_key": "form-first-0001", "amount": 2000, "method": "cheque"}
        await desk.call(
            "POST",
            f"/acd/calls/{call}/pledges",
            {**one, "receipt": True, "donor": DONOR, "keep_details": True},
        )
        await hang_up(app, call, first)

        # The same caller again: the form opens with the earlier pledge and their details.
        second = asyncio.create_task(place_call(asterisk, max_seconds=40))
        call = await connected_call(app, 2)
        form = await desk.call("GET", f"/acd/calls/{call}/pledge-form")
        assert [(p["amount"], p["method"]) for p in form["earlier"]] == [(2000, "cheque")]
        assert form["donor"] == DONOR
        donor = await app.vault.find(CALLER)
        assert donor is not None
        assert form["pseudonym"] == donor.pseudonym
        assert CALLER.lstrip("+")[-7:] not in json.dumps(form)  # never the number
        two = {"client_key": "form-second-0002", "amount": 5000, "consent_sms": True}
        pledge = await desk.call("POST", f"/acd/calls/{call}/pledges", two)
        assert pledge["status"] == "pledged"
        moved = await desk.board()
        assert (moved["count"], moved["pledged"]) == (before["count"] + 2, before["pledged"] + 7000)
        linked = await desk.call("POST", f"/pledges/{pledge['id']}/link")
        assert linked["status"] == "link_sent"
        await hang_up(app, call, second)

        # The RQ worker texts the link through the Twilio stand-in, to the caller's phone.
        [session] = stripe.sessions
        [sms] = await asyncio.to_thread(twilio.wait_for_messages, 1, 20.0)
        assert sms["to"] == CALLER
        assert sms["body"] == f"Thank you! Pay here: {session['url']}"

        # Stripe's signed webhook: paid; the board's paid total moves.
        payload, signature = stripe.event(
            session["id"], "checkout.session.completed", payment_status="paid"
        )
        async with http.post(
            f"{url}/pledges/webhooks/stripe",
            data=payload,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        ) as response:
            assert response.status == 200, await response.text()
            applied = await response.json()
        assert (applied["pledge"], applied["status"], applied["changed"]) == (
            pledge["id"], "paid", True,
        )  # fmt: skip
        assert (await desk.call("GET", f"/pledges/{pledge['id']}"))["status"] == "paid"
        paid = await desk.board()
        assert paid["paid"] == before["paid"] + 5000
        assert paid["pledged"] == moved["pledged"]

        await app.acd.store.logout("erin", app.acd.clock())
        await app.ari.hangup("nail-erin")
        operator = await phone
        assert operator.returncode == 0, operator.messages[-1500:]
        assert len(operator.invites) == 1  # rung once, for both callers
        await wait_until_idle(app, asterisk)
