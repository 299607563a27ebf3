"""Fault drills: the app stopped and restarted, Redis emptied, while calls go on. After each,
within seconds, no volunteer is held by a call that is gone and every caller goes on."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from acd.config import load_agents, load_queues
from acd.routing import AgentState
from acd.store import AcdStore
from core.ari import AriClient
from core.config import Settings
from core.keys import Keys
from core.privacy import Vault
from hotline.app import HotlineApp
from hotline.harness import PrivateAsterisk, RedisServer
from ivr.flow import Flow, load_flow
from tests.conftest import (
    TESTS,
    agent_phone,
    app_process,
    place_call,
    queue_log,
    running_app,
    wait_until_idle,
)
from tests.e2e.test_acd_calls import (
    MONDAY_10AM_TORONTO,
    TO_GENERAL,
    log_in,
    on_call,
    shut_down_saving,
    until,
)

#: Every call straight into the "general" queue: for an app on the real clock.
STRAIGHT = TESTS / "flows" / "straight.toml"
HELD = (AgentState.OFFERED, AgentState.ON_CALL)

pytestmark = pytest.mark.e2e


@asynccontextmanager
async def app_running(settings: Settings, flow: Flow) -> AsyncIterator[HotlineApp]:
    async with running_app(settings, flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        yield app


@asynccontextmanager
async def ari_of(settings: Settings) -> AsyncIterator[AriClient]:
    """A client of the test's own, for what happens to calls while the app is down."""
    ari = settings.ari
    async with AriClient(ari.url, ari.username, settings.secrets.ari_password) as client:
        yield client


def repairs(settings: Settings) -> list[tuple[str, str]]:
    return [(e["repair"], e["call"]) for e in queue_log(settings) if e["event"] == "RECONCILE"]


async def agent_state(app: HotlineApp, agent: str) -> AgentState | None:
    view = await app.acd.store.agent(agent)
    return None if view is None else view.state


async def until_in_state(store: AcdStore, agent: str, state: AgentState, what: str) -> None:
    """Wait until ``agent`` is in ``state``."""

    async def reached() -> bool:
        view = await store.agent(agent)
        return view is not None and view.state is state

    await until(reached, what)


async def until_one_waits(store: AcdStore, what: str) -> None:
    """Wait until a caller waits in the "general" queue."""

    async def waits() -> bool:
        return bool(await store.waiting("general"))

    await until(waits, what)


async def test_a_caller_who_hung_up_while_the_app_was_down_frees_the_volunteer(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    """The first caller hangs up while no app runs (its StasisEnd is lost): the restarted
    app finds the call gone, ends it (Alice's leg is hung up, she wraps up) and gives Alice
    the caller who waited through the outage."""
    phone = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path, calls=2))
    async with app_running(settings, test_flow) as app:
        # Called once the app runs: a call before it has subscribed goes to the fallback.
        first = asyncio.create_task(place_call(asterisk, keys=TO_GENERAL))
        await log_in(app, "alice")
        lost = await on_call(app, "alice")
        second = asyncio.create_task(place_call(asterisk, keys=TO_GENERAL, caller="+15145550124"))

        await until_one_waits(app.acd.store, "the second caller waiting")
    async with ari_of(settings) as ari:
        await ari.hangup(lost)  # nobody hears of it
    await asyncio.sleep(2)
    async with app_running(settings, test_flow) as app:
        # Alice is still on the lost call until the reconciler's first pass ends it.
        talking = await on_call(app, "alice", within=15, besides=(lost,))
        async with ari_of(settings) as ari:
            await ari.hangup(talking)
        results = await asyncio.gather(first, second)
        assert all(r.ok for r in results), [r.output[-800:] for r in results]
        assert (await phone).returncode == 0
        await wait_until_idle(app, asterisk)
        assert await agent_state(app, "alice") in (AgentState.WRAP_UP, AgentState.AVAILABLE)
    assert ("channel-gone", lost) in repairs(settings)


async def test_a_ring_lost_while_the_app_was_down_does_not_hold_the_volunteer(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    """Alice's phone rings when the app stops; Asterisk gives up ringing while no app runs
    (the leg's end is lost). The restarted app finds the leg gone and offers the caller
    again, instead of leaving Alice offered until the caller gives up."""
    phone = asyncio.create_task(
        agent_phone(phone_ports["alice"], tmp_path, mode="noanswer", calls=2)
    )
    async with app_running(settings, test_flow) as app:
        caller = asyncio.create_task(place_call(asterisk, keys=TO_GENERAL))  # app running
        await log_in(app, "alice")

        await until_in_state(app.acd.store, "alice", AgentState.OFFERED, "Alice rung")
        view = await app.acd.store.agent("alice")
        assert view is not None
        first_offer = view.offer_id
    leg = f"agent-{first_offer}-alice"

    async def leg_gone() -> bool:
        return leg not in {c.id for c in await ari.list_channels()}

    async with ari_of(settings) as ari:
        await until(leg_gone, "Asterisk stopped ringing Alice")
    async with app_running(settings, test_flow) as app:

        async def offered_again() -> bool:
            view = await app.acd.store.agent("alice")
            return view is not None and view.offer_id not in ("", first_offer)

        await until(offered_again, "the caller offered again", within=15)
        call_id = next(e["call"] for e in queue_log(settings) if e["event"] == "OFFER")
        async with ari_of(settings) as ari:
            await ari.hangup(call_id)
        assert (await caller).ok
        assert (await phone).returncode == 0
        await wait_until_idle(app, asterisk)
        assert await agent_state(app, "alice") is not AgentState.OFFERED
    assert ("channel-gone", leg) in repairs(settings)


async def test_redis_emptied_the_app_restores_its_agents_and_callers_start_again(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    """Redis loses every key while a caller waits: the app writes its agents back (Alice can
    log in again at once), says so on /healthz meanwhile, and the caller, whom no record names
    any more, starts the IVR again and reaches Alice."""
    # The caller's keys after the queue arrive once the app has adopted the call again.
    keys = (*TO_GENERAL, (9000, "1"), (900, "1"))
    async with app_running(settings, test_flow) as app:
        # Called once the app runs: a call before it has subscribed goes to the fallback.
        caller = asyncio.create_task(place_call(asterisk, keys=keys, max_seconds=60))
        await until_one_waits(app.acd.store, "the caller waiting")
        assert (await app.health())["redis"]
        flushed = redis.Redis.from_url(settings.redis.url)
        flushed.flushdb()
        flushed.close()
        assert not (await app.health())["redis"]

        async def restored() -> bool:
            return (await app.health())["redis"] and await app.acd.store.agent("alice") is not None

        await until(restored, "the agents written back", within=5)
        phone = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path, talk_ms=1000))
        await log_in(app, "alice")
        answered = await phone
        result = await caller
        assert answered.returncode == 0, answered.messages[-1500:]
        assert result.ok, result.output[-1500:]
        await wait_until_idle(app, asterisk)
    done = [r for r, _ in repairs(settings)]
    assert "redis-emptied" in done
    assert "adopted-restart" in done
    assert [e["agent"] for e in queue_log(settings) if e["event"] == "CONNECT"] == ["alice"]


@asynccontextmanager
async def shared_store(settings: Settings) -> AsyncIterator[AcdStore]:
    """The ACD store as every app instance sees it, for a test whose app is a process."""
    client = aioredis.Redis.from_url(settings.redis.url, decode_responses=True)
    try:
        yield AcdStore(client, Keys(settings.redis.prefix), load_queues(settings.acd.queues))
    finally:
        await client.aclose()


async def sign_in(store: AcdStore, settings: Settings, agent: str) -> None:
    queues = load_queues(settings.acd.queues)
    profile = next(a for a in load_agents(settings.acd.agents, queues) if a.id == agent)
    await store.login(agent, ("general",), profile.devices[0], time.time())


async def test_the_app_killed_and_restarted_frees_its_volunteers_and_serves_the_waiting(
    settings: Settings,
    asterisk: PrivateAsterisk,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    """kill -9 with a caller talking to Alice and one ringing Bruno. While no app runs, the
    first caller hangs up, Asterisk gives up ringing Bruno, and a new caller hears the
    fallback message. The restarted app frees both volunteers and the caller who waited
    through the crash reaches Alice."""
    alice = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path, calls=2))
    bruno = asyncio.create_task(agent_phone(phone_ports["bruno"], tmp_path, mode="noanswer"))
    async with shared_store(settings) as store:

        async def state(agent: str) -> AgentState | None:
            view = await store.agent(agent)
            return None if view is None else view.state

        async with app_process(settings, STRAIGHT, tmp_path) as crashing:
            await sign_in(store, settings, "alice")
            first = asyncio.create_task(place_call(asterisk))

            await until_in_state(store, "alice", AgentState.ON_CALL, "Alice talking")
            view = await store.agent("alice")
            assert view is not None
            talking = view.call_id
            await sign_in(store, settings, "bruno")
            second = asyncio.create_task(place_call(asterisk, caller="+15145550124"))

            await until_in_state(store, "bruno", AgentState.OFFERED, "Bruno rung")
            view = await store.agent("bruno")
            assert view is not None
            ringing = f"agent-{view.offer_id}-bruno"
            await asyncio.to_thread(crashing.kill)
        async with ari_of(settings) as ari:
            await ari.hangup(talking)
        meanwhile = await place_call(asterisk, caller="+15145550126", max_seconds=20)
        assert meanwhile.ok, meanwhile.output[-1500:]  # the fallback's message, then a hang-up
        assert (await bruno).returncode == 0  # Asterisk stopped ringing (ring timeout)
        flow = load_flow(STRAIGHT, languages=settings.ivr.languages)
        async with running_app(settings, flow) as app:
            # Her old call is ended by the reconciler's first pass, which the start spawns.
            served = await on_call(app, "alice", within=20, besides=(talking,))
            await app.ari.hangup(served)
            results = await asyncio.gather(first, second)
            assert all(r.ok for r in results), [r.output[-800:] for r in results]
            assert (await alice).returncode == 0
            await wait_until_idle(app, asterisk)
            assert await state("alice") not in HELD
            assert await state("bruno") not in HELD
    done = repairs(settings)
    assert ("channel-gone", talking) in done
    assert ("channel-gone", ringing) in done


async def test_asterisk_restarted_under_calls_frees_every_volunteer_they_held(
    settings: Settings,
    asterisk: PrivateAsterisk,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    """Asterisk is killed (-9: no call's end reaches the app) and started again; the app
    reconnects, finds every call gone and ends them all: the volunteer who talked and the
    one whose phone rang are free again, with no channel left."""
    flow = load_flow(STRAIGHT, languages=settings.ivr.languages)
    sipp: list[asyncio.Task[object]] = [
        asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path, max_seconds=20)),
        asyncio.create_task(
            agent_phone(phone_ports["bruno"], tmp_path, mode="noanswer", max_seconds=20)
        ),
    ]
    async with running_app(settings, flow) as app:
        await log_in(app, "alice")
        sipp.append(asyncio.create_task(place_call(asterisk, max_seconds=20)))
        await on_call(app, "alice")
        await log_in(app, "bruno")
        sipp.append(
            asyncio.create_task(place_call(asterisk, caller="+15145550124", max_seconds=20))
        )

        await until_in_state(app.acd.store, "bruno", AgentState.OFFERED, "Bruno rung")
        await asyncio.to_thread(crash, asterisk)
        await asyncio.sleep(1)
        asterisk.restart()  # on this thread: Asterisk lives as long as it (PDEATHSIG)

        async def all_free() -> bool:
            states = [await agent_state(app, a) for a in ("alice", "bruno")]
            return not any(s in HELD for s in states)

        await until(all_free, "every volunteer free", within=30)
        await wait_until_idle(app, asterisk)
    await asyncio.gather(*sipp, return_exceptions=True)  # cut calls: SIPp times out
    gone = [r for r, _ in repairs(settings)]
    assert gone.count("channel-gone") >= 2  # the caller talking, and the one waiting


def crash(asterisk: PrivateAsterisk) -> None:
    """Kill Asterisk as a crash would: every call on it is cut, no event is sent."""
    assert asterisk.proc is not None
    os.killpg(asterisk.proc.pid, signal.SIGKILL)
    asterisk.proc.wait(10)


async def test_redis_restarted_with_its_data_under_calls_loses_nobody(
    asterisk: PrivateAsterisk,
    settings: Settings,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    """Redis goes down for 4 s (data kept) with a caller talking to Alice and one ringing
    Bruno, who does not answer: the ring's end is handled once Redis is back, and the
    second caller reaches Alice after the first."""
    own = RedisServer(tmp_path / "redis").start()
    alone = dataclasses.replace(settings, redis=dataclasses.replace(settings.redis, url=own.url))
    flow = load_flow(STRAIGHT, languages=settings.ivr.languages)
    alice = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path, calls=2))
    bruno = asyncio.create_task(agent_phone(phone_ports["bruno"], tmp_path, mode="noanswer"))
    try:
        async with running_app(alone, flow) as app:
            await log_in(app, "alice")
            first = asyncio.create_task(place_call(asterisk))
            talking = await on_call(app, "alice")
            await log_in(app, "bruno")
            second = asyncio.create_task(place_call(asterisk, caller="+15145550124"))

            await until_in_state(app.acd.store, "bruno", AgentState.OFFERED, "Bruno rung")
            await asyncio.to_thread(shut_down_saving, own)
            await asyncio.sleep(4)
            own.start()  # from its snapshot, on this thread (PDEATHSIG)
            assert (await bruno).returncode == 0

            async def bruno_free() -> bool:
                return await agent_state(app, "bruno") not in HELD

            await until(bruno_free, "Bruno's missed ring handled", within=20)
            await app.ari.hangup(talking)

            async def alice_takes_the_next() -> bool:
                view = await app.acd.store.agent("alice")
                return view is not None and view.call_id not in ("", talking)

            await until(alice_takes_the_next, "the second caller reached Alice")
            view = await app.acd.store.agent("alice")
            assert view is not None
            await app.ari.hangup(view.call_id)
            results = await asyncio.gather(first, second)
            assert all(r.ok for r in results), [r.output[-800:] for r in results]
            assert (await alice).returncode == 0
            await wait_until_idle(app, asterisk)
            assert await agent_state(app, "alice") not in HELD
    finally:
        own.stop()


async def test_the_app_killed_during_a_call_to_a_texter_frees_the_volunteer(
    settings: Settings,
    asterisk: PrivateAsterisk,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    """kill -9 while Alice talks to a texter she called back; the texter hangs up while no app
    runs. The restarted app ends Alice's side (her leg is live; the call's ``txt`` id is no
    channel and is never looked for) and she is free for queue calls again."""
    alice = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path))
    texter = asyncio.create_task(agent_phone(phone_ports["dana"], tmp_path))
    keys = Keys(settings.redis.prefix)
    async with shared_store(settings) as store:
        vault = Vault(
            store.redis,
            keys,
            hash_key=settings.secrets.hash_key,
            fernet_keys=settings.secrets.vault_keys,
            default_region=settings.privacy.default_region,
        )
        entry = await vault.store("+15145550126", "fr", now=datetime.now(UTC))

        async def texter_answered() -> bool:
            phase = await store.redis.hget(keys.acd_leg("callee-txt1"), "phase")
            return phase == '"bridged"'

        async with app_process(settings, STRAIGHT, tmp_path) as crashing:
            await sign_in(store, settings, "alice")
            # What the SMS side does on Alice's "#call": she is held, the request is queued.
            await store.hold_for_texter("txt1", "alice", settings.ari.app, time.time())
            request: dict[Any, Any] = {
                "kind": "callback", "call": "txt1", "request": "r1", "reference": "4821",
                "conversation": "c1", "caller_ref": entry.ref, "pseudonym": entry.pseudonym,
                "language": "fr", "agent": "alice", "queue": "general", "requested_at": "0",
            }  # fmt: skip
            await store.redis.xadd(keys.voice_requests, request)
            await until(texter_answered, "the texter connected to Alice")
            await asyncio.to_thread(crashing.kill)
        async with ari_of(settings) as ari:
            await ari.hangup("callee-txt1")
        assert (await texter).returncode == 0
        held = await store.agent("alice")
        assert held is not None
        assert (held.state, held.call_id) == (AgentState.ON_CALL, "txt1")  # through the crash
        flow = load_flow(STRAIGHT, languages=settings.ivr.languages)
        async with running_app(settings, flow) as app:
            assert (await alice).returncode == 0  # the restarted app hung her up
            await until_in_state(store, "alice", AgentState.AVAILABLE, "Alice freed")
            await wait_until_idle(app, asterisk)
    assert ("channel-gone", "callee-txt1") in repairs(settings)
