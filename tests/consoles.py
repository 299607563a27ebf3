"""The console served on a real port over a real Redis and ACD store, without Asterisk."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet
from redis import Redis as SyncRedis
from rq import Queue

from acd import chat
from acd.chat import ChatRouter
from acd.config import load_agents, load_queues
from acd.http import acd_routes
from acd.model import WaitingCall
from acd.records import Caller, Records, put
from acd.store import AcdStore
from bench.stripe_standin import StripeStandIn
from bench.twilio_standin import StandIn
from console.http import ConsoleDeps, build_console
from core.config import (
    ConsoleSettings,
    RecordsSettings,
    RedisSettings,
    Secrets,
    Settings,
    SmsSettings,
)
from core.keys import Keys
from core.privacy.vault import Vault
from core.redisconn import connect
from hotline.app import queue_rules
from hotline.console_desk import (
    AcdCalls,
    AcdPresence,
    AcdSupervision,
    RecordsWrapups,
    SmsChats,
    TelethonPledges,
    console_accounts,
)
from hotline.http import build_web_app
from hotline.telethon import AcdCallerRefs, OutboxTexts
from pledges.campaigns import DEMO_CAMPAIGNS, Campaign, load_campaigns
from pledges.donors import DonorSeal
from pledges.http import tote_routes
from pledges.links import PaymentDesk
from pledges.payments import StripeCheckout
from pledges.service import Pledges
from pledges.tote import ToteFeed
from records.database import connect as connect_records
from records.database import upgrade
from records.drain import Drain
from records.today import calls_since
from records.wrapups import Wrapups
from sms.gateway import SmsGateway
from sms.outbox import Outbox
from sms.recipients import store_in
from sms.redact import redact_numbers
from tests.conftest import TESTS
from workers.sms import SmsRuntime

PREFIX = "hotline"
HASH_KEY = b"console-test-hash-key-0123456789"
API_TOKEN = "sam-token-0123456789ab"
PASSWORDS = {"alice": "alice-console", "bruno": "bruno-console", "fiona": "fiona-console"}
#: The demo's campaign with its operators in the test queue ``general``.
CAMPAIGN = dataclasses.replace(load_campaigns(DEMO_CAMPAIGNS)["demo-telethon"], queue="general")


@dataclass
class Console:
    """A running console, its HTTP client and the ACD store behind it."""

    http: TestClient[web.Request, web.Application]
    store: AcdStore
    keys: Keys
    wrapups: Wrapups
    vault: Vault
    agents_file: Path
    #: The SMS side: conversations, outbox.
    sms: SmsGateway
    #: The app's settings (the SMS workers').
    settings: Settings
    #: The telethon's pledges service (None: no campaign).
    pledges: Pledges | None = None

    def url(self, path: str) -> str:
        return str(self.http.make_url(path))

    async def csrf(self, path: str = "/console/signin") -> str:
        """The CSRF token of the page at ``path``."""
        async with self.http.get(path) as resp:
            found = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    async def sign_in(self, account: str, password: str | None = None) -> int:
        """Sign in through the form; the response's status (303 when signed in)."""
        form = {
            "csrf": await self.csrf(),
            "account": account,
            "password": PASSWORDS.get(account, "") if password is None else password,
        }
        async with self.http.post("/console/signin", data=form, allow_redirects=False) as resp:
            return resp.status

    async def send_sms(self, twilio: StandIn, count: int) -> list[dict[str, Any]]:
        """Run burst SMS workers until the ``twilio`` stand-in holds ``count`` messages and
        nothing waits; its messages."""
        runtime = SmsRuntime(self.settings, drop_chat=chat.drop)
        queue = runtime.deps.queue
        try:
            async with asyncio.timeout(20):
                while True:
                    runtime.worker().work(burst=True, with_scheduler=True)
                    idle = queue.count == 0 and queue.scheduled_job_registry.count == 0
                    if idle and len(twilio.messages) >= count:
                        return twilio.messages
                    await asyncio.sleep(0.1)
        finally:
            runtime.close()

    async def log_in(self, agent: str, queues: tuple[str, ...], now: float) -> None:
        """Log ``agent`` in to ``queues`` on its first device, at ``now``."""
        profiles = load_agents(self.agents_file, self.store.queues)
        device = {p.id: p for p in profiles}[agent].devices[0]
        await self.store.login(agent, queues, device, now)

    async def offer_to(
        self,
        agent: str,
        call_id: str,
        pseudonym: str,
        waited_s: float,
        *,
        line: str = "",
        ivr_path: str = "",
        callback_at: float | None = None,
    ) -> str:
        """A real ACD offer: ``agent`` logs in, a call (to ``line``, through ``ivr_path``)
        waits ``waited_s`` (turned into a callback at ``callback_at`` if given) and is
        claimed; the offer's id."""
        now = time.time()
        await self.log_in(agent, ("general",), now - waited_s)
        call = WaitingCall(
            call_id,
            "general",
            "app-1",
            pseudonym,
            "fr",
            now - waited_s,
            line=line,
            ivr_path=ivr_path,
        )
        await self.store.enqueue(call, now - waited_s)
        if callback_at is not None:
            await self.store.to_callback(call_id, callback_at)
        offer = await self.store.claim("general", now)
        assert offer is not None
        assert [a.agent_id for a in offer.agents] == [agent]
        return offer.offer_id

    async def campaign_call(self, agent: str, call_id: str, caller_ref: str) -> None:
        """A caller (their vault ref) on the campaign's line, whom ``agent`` answers: the IVR
        journal's first entry (keyed reference) and the ACD's caller record (the ref), as
        ivr/stasis.py and acd/stasis.py write them, then the ACD's OFFER and CONNECT."""
        detail = {
            "caller": f"h:{caller_ref[:12]}",
            "did": CAMPAIGN.dids[0],
            "pseudonym": "Calm Heron",
        }
        entry = json.dumps(detail)
        await self.store.redis.xadd(
            self.keys.journal, {"channel": call_id, "kind": "call", "detail": entry}
        )
        caller = Caller(call_id, "general", "fr", "Calm Heron", time.time(), caller_ref=caller_ref)
        await Records(self.store.redis, self.keys).save(put(caller))
        offer = await self.offer_to(agent, call_id, "Calm Heron", 3)
        await self.store.accept(offer, agent, time.time())


@asynccontextmanager
async def console_running(
    redis_url: str,
    data_dir: Path,
    settings: ConsoleSettings | None = None,
    supervision: type[AcdSupervision] = AcdSupervision,
    campaign: Campaign | None = None,
    stripe: StripeStandIn | None = None,
    agents_file: Path = TESTS / "acd" / "agents.toml",
    twilio: StandIn | None = None,
    clock: Callable[[], float] = time.time,
    grace_s: float = 600,
) -> AsyncIterator[Console]:
    """The app's web server with the console mounted, on a free port; wrap-ups go to a SQLite
    records store in ``data_dir``; ``supervision`` serves the supervisor screen; the accounts
    and agents come from ``agents_file``; with a ``campaign`` (and the ``stripe`` stand-in for
    its links), its operators get the pledge form, payment links are queued in the SMS
    outbox, and its tote board is served; text conversations' SMS go to the ``twilio``
    stand-in (when given) once ``Console.send_sms`` runs the workers; ``clock`` is the
    console's and the records store's time, ``grace_s`` the wrap-up form's grace."""
    redis_settings = RedisSettings(url=redis_url, prefix=PREFIX)
    redis, session_redis = connect(redis_settings), connect(redis_settings, decode=False)
    keys = Keys(PREFIX)
    queues = load_queues(TESTS / "acd" / "queues.toml")
    agents = {a.id: a for a in load_agents(agents_file, queues)}
    deps_settings = settings or ConsoleSettings()
    store = AcdStore(redis, keys, queues, zone=ZoneInfo(deps_settings.time_zone))
    vault_key = Fernet.generate_key()
    vault = Vault(redis, keys, hash_key=HASH_KEY, fernet_keys=[vault_key], default_region="CA")
    await store.sync_agents(list(agents.values()))
    engine = connect_records(RecordsSettings(data_dir=data_dir))
    await upgrade(engine)
    drain = Drain(redis, keys, engine, clock=clock)
    wrapups = Wrapups(
        engine,
        drain,
        queue_rules(queues),
        grace_s=grace_s,
        notes_max=4000,
        region="CA",
        clock=clock,
    )
    pledges, desk, feed, provider = None, None, None, None
    rq_redis = SyncRedis.from_url(redis_url)
    if campaign is not None:
        assert stripe is not None, "a campaign's links need the Stripe stand-in"
        seal = DonorSeal([Fernet.generate_key()])
        campaigns = {campaign.name: campaign}
        pledges = Pledges(engine, campaigns, wrapups, seal, region="CA", clock=clock)
        provider = StripeCheckout(
            stripe.api_key,
            stripe.webhook_secret,
            base_url=stripe.base_url,
            success_url="https://telethon.example/thanks",
        )
        outbox = Outbox(Queue("sms", connection=rq_redis), keys, SmsSettings(), store_in(vault))
        texts = OutboxTexts(outbox, redis, keys, campaign.dids[0])
        payments = PaymentDesk(
            engine, campaigns, provider, AcdCallerRefs(redis, keys), texts, clock=clock
        )
        desk = TelethonPledges(pledges, payments, campaigns)
        feed = ToteFeed(engine, campaigns, clock=clock)
    app_settings = Settings(
        redis=redis_settings,
        sms=SmsSettings(
            twilio_base_url=twilio.base_url if twilio else "",
            sender_type="short_code",
            retry_base_seconds=0,
        ),
        secrets=Secrets(
            api_tokens=f"sam:supervisor:{API_TOKEN}",
            hash_key=HASH_KEY,
            vault_keys=(vault_key,),
            twilio_account_sid=twilio.account_sid if twilio else "",
            twilio_auth_token=twilio.auth_token if twilio else "",
        ),
    )
    sms = SmsGateway(
        app_settings,
        redis_client=redis,
        rq_client=rq_redis,
        vault=vault,
        agents=agents,
        chats=ChatRouter(redis, keys, agents),
    )
    deps = ConsoleDeps(
        settings=deps_settings,
        keys=keys,
        redis=redis,
        session_redis=session_redis,
        accounts=console_accounts(agents.values()),
        presence=AcdPresence(store, agents, clock),
        wrapups=RecordsWrapups(wrapups),
        supervision=supervision(
            store,
            agents,
            vault,
            clock,
            functools.partial(redact_numbers, region="CA"),
            functools.partial(calls_since, engine, redis, keys),
            ZoneInfo(deps_settings.time_zone),
        ),
        calls=AcdCalls(store, agents),
        chats=SmsChats(sms.conversations, queues, "en"),
        pledges=desk,
    )

    async def health() -> dict[str, bool]:
        return {"ok": True}

    routes = acd_routes(store, agents, clock, str)
    if feed is not None:
        routes += tote_routes(feed)
    app = build_web_app(app_settings, health, routes, {"/console": build_console(deps)})
    poller = asyncio.create_task(feed.run()) if feed is not None else None
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")) as http:
            yield Console(
                http, store, keys, wrapups, vault, agents_file, sms, app_settings, pledges
            )
    finally:
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
        if provider is not None:
            await provider.close()
        rq_redis.close()
        await engine.dispose()
        await redis.aclose()
        await session_redis.aclose()


async def read_event(resp: ClientResponse, within: float = 5) -> dict[str, str]:
    """The next SSE event (its fields), comments and pings skipped, within ``within``
    seconds."""
    fields: dict[str, str] = {}
    async with asyncio.timeout(within):
        while True:
            line = (await resp.content.readline()).decode().rstrip("\r\n")
            if not line:
                if "data" in fields:
                    return fields
                continue
            name, _, value = line.partition(":")
            if name:
                fields[name] = value.removeprefix(" ")
