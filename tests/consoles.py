"""The console served on a real port over a real Redis and ACD store, without Asterisk."""

from __future__ import annotations

import asyncio
import functools
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet

from acd.config import load_agents, load_queues
from acd.http import acd_routes
from acd.model import WaitingCall
from acd.store import AcdStore
from console.http import ConsoleDeps, build_console
from core.config import ConsoleSettings, RecordsSettings, RedisSettings, Secrets, Settings
from core.keys import Keys
from core.privacy.vault import Vault
from core.redisconn import connect
from hotline.app import queue_rules
from hotline.console_desk import (
    AcdCalls,
    AcdPresence,
    AcdSupervision,
    RecordsWrapups,
    console_accounts,
)
from hotline.http import build_web_app
from records.database import connect as connect_records
from records.database import upgrade
from records.drain import Drain
from records.today import calls_since
from records.wrapups import Wrapups
from sms.redact import redact_numbers
from tests.conftest import TESTS

PREFIX = "hotline"
API_TOKEN = "sam-token-0123456789ab"
PASSWORDS = {"alice": "alice-console", "bruno": "bruno-console", "fiona": "fiona-console"}


@dataclass
class Console:
    """A running console, its HTTP client and the ACD store behind it."""

    http: TestClient[web.Request, web.Application]
    store: AcdStore
    keys: Keys
    wrapups: Wrapups
    vault: Vault
    agents_file: Path

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
    ) -> str:
        """A real ACD offer: ``agent`` logs in, a call (to ``line``, through ``ivr_path``)
        waits ``waited_s`` and is claimed; the offer's id."""
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
        offer = await self.store.claim("general", now)
        assert offer is not None
        assert [a.agent_id for a in offer.agents] == [agent]
        return offer.offer_id


@asynccontextmanager
async def console_running(
    redis_url: str,
    data_dir: Path,
    settings: ConsoleSettings | None = None,
    supervision: type[AcdSupervision] = AcdSupervision,
    agents_file: Path = TESTS / "acd" / "agents.toml",
) -> AsyncIterator[Console]:
    """The app's web server with the console mounted, on a free port; wrap-ups go to a SQLite
    records store in ``data_dir``; ``supervision`` serves the supervisor screen; the accounts
    and agents come from ``agents_file``."""
    redis_settings = RedisSettings(url=redis_url, prefix=PREFIX)
    redis, session_redis = connect(redis_settings), connect(redis_settings, decode=False)
    keys = Keys(PREFIX)
    queues = load_queues(TESTS / "acd" / "queues.toml")
    agents = {a.id: a for a in load_agents(agents_file, queues)}
    store = AcdStore(redis, keys, queues)
    vault = Vault(
        redis,
        keys,
        hash_key=b"console-test-hash-key-0123456789",
        fernet_keys=[Fernet.generate_key()],
        default_region="CA",
    )
    await store.sync_agents(list(agents.values()))
    engine = connect_records(RecordsSettings(data_dir=data_dir))
    await upgrade(engine)
    drain = Drain(redis, keys, engine, clock=time.time)
    wrapups = Wrapups(
        engine,
        drain,
        queue_rules(queues),
        grace_s=600,
        notes_max=4000,
        region="CA",
        clock=time.time,
    )
    deps_settings = settings or ConsoleSettings()
    deps = ConsoleDeps(
        settings=deps_settings,
        keys=keys,
        redis=redis,
        session_redis=session_redis,
        accounts=console_accounts(agents.values()),
        presence=AcdPresence(store, agents, time.time),
        wrapups=RecordsWrapups(wrapups),
        supervision=supervision(
            store,
            agents,
            vault,
            time.time,
            functools.partial(redact_numbers, region="CA"),
            functools.partial(calls_since, engine, redis, keys),
            ZoneInfo(deps_settings.time_zone),
        ),
        calls=AcdCalls(store, agents),
    )

    async def health() -> dict[str, bool]:
        return {"ok": True}

    app_settings = Settings(secrets=Secrets(api_tokens=f"sam:supervisor:{API_TOKEN}"))
    routes = acd_routes(store, agents, time.time, str)
    app = build_web_app(app_settings, health, routes, {"/console": build_console(deps)})
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")) as http:
            yield Console(http, store, keys, wrapups, vault, agents_file)
    finally:
        await engine.dispose()
        await redis.aclose()
        await session_redis.aclose()


async def read_event(resp: ClientResponse) -> dict[str, str]:
    """The next SSE event (its fields), comments and pings skipped."""
    fields: dict[str, str] = {}
    async with asyncio.timeout(5):
        while True:
            line = (await resp.content.readline()).decode().rstrip("\r\n")
            if not line:
                if "data" in fields:
                    return fields
                continue
            name, _, value = line.partition(":")
            if name:
                fields[name] = value.removeprefix(" ")
