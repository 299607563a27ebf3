"""Queued calls from SIPp callers to SIPp volunteers' phones through the app's ACD."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from acd.records import LegPhase
from acd.routing import AgentState
from acd.transfers import Transfer, TransferKind, request_transfer
from core.config import Settings
from core.keys import Keys
from hotline.app import HotlineApp
from hotline.harness import PrivateAsterisk, RedisServer, free_port
from ivr.flow import Flow
from tests.conftest import (
    CALLER,
    agent_phone,
    place_call,
    queue_log,
    running_app,
    wait_until_idle,
)

pytestmark = pytest.mark.e2e

MONDAY_10AM_TORONTO = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
#: English, then "1" at the main menu: the "general" queue.
TO_GENERAL = ((2000, "1"), (900, "1"))


def events(settings: Settings) -> list[tuple[str, str]]:
    return [(e["event"], e["agent"]) for e in queue_log(settings)]


async def log_in(app: HotlineApp, agent: str, *queues: str) -> None:
    profile = app.acd.agents[agent]
    await app.acd.store.login(agent, queues or ("general",), profile.devices[0], app.acd.clock())


async def test_queued_call_reaches_a_volunteer_who_sees_only_a_pseudonym(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        await log_in(app, "alice")
        phone = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path, talk_ms=1500))
        result = await place_call(asterisk, keys=TO_GENERAL)
        answered = await phone
        assert result.ok, result.output
        assert answered.returncode == 0, answered.messages[-2000:]
        await wait_until_idle(app, asterisk)
        alice = await app.acd.store.agent("alice")
    assert alice is not None
    assert alice.state in (AgentState.WRAP_UP, AgentState.AVAILABLE)
    (invite,) = answered.invites
    digits = CALLER.lstrip("+")[-10:]
    assert digits not in invite
    headers = {line.split(":", 1)[0]: line for line in invite.splitlines() if ":" in line}
    hotline = settings.asterisk.hotline_number
    for name in ("From", "P-Asserted-Identity"):
        assert hotline in headers[name]
        assert "(general)" in headers[name]  # "<pseudonym> (general)" as display name
    seen = [e for e, _ in events(settings) if e not in ("ADDMEMBER", "REMOVEMEMBER")]
    assert seen[:1] == ["ENTERQUEUE"]
    assert "CONNECT" in seen
    assert "COMPLETEAGENT" in seen


def to_queue(digit: str) -> tuple[tuple[int, str], ...]:
    """Keys that reach a test queue: English, then ``digit`` at the main menu."""
    return ((2000, "1"), (900, digit))


async def test_ring_no_answer_moves_the_call_on_and_repeated_misses_pause_the_agent(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        await log_in(app, "alice")
        # Alice never answers: after two misses (max_misses = 2) she is paused, and the
        # caller, still waiting with nobody left, hangs up.
        phone = asyncio.create_task(
            agent_phone(phone_ports["alice"], tmp_path, mode="noanswer", calls=2)
        )
        result = await place_call(asterisk, keys=TO_GENERAL, hangup_ms=8500)
        rang = await phone
        assert result.ok, result.output
        assert rang.returncode == 0, rang.messages[-1500:]
        await wait_until_idle(app, asterisk)
        alice = await app.acd.store.agent("alice")
    assert alice is not None
    assert alice.state is AgentState.PAUSED
    assert alice.pause_reason == "no-answer"
    assert len(rang.invites) == 2
    seen = events(settings)
    assert seen.count(("RINGNOANSWER", "alice")) == 2
    assert ("PAUSE", "alice") in seen
    assert seen[-1][0] == "ABANDON"


async def test_caller_hanging_up_while_an_agent_rings_cancels_the_ringing(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        await log_in(app, "alice")
        phone = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path, mode="noanswer"))
        result = await place_call(asterisk, keys=TO_GENERAL, hangup_ms=1500)
        rang = await phone  # the scenario ends only on CANCEL
        assert result.ok, result.output
        assert rang.returncode == 0, rang.messages[-1500:]
        await wait_until_idle(app, asterisk)
        alice = await app.acd.store.agent("alice")
    assert alice is not None
    assert alice.state is AgentState.AVAILABLE
    assert [e for e, _ in events(settings)][-1] == "ABANDON"


async def test_ring_all_connects_the_first_to_answer_and_stops_the_others(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        for agent in ("alice", "bruno", "chen"):
            await log_in(app, agent, "ringall")
        phones = [
            asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path, mode="noanswer")),
            asyncio.create_task(agent_phone(phone_ports["bruno"], tmp_path, talk_ms=1000)),
            asyncio.create_task(agent_phone(phone_ports["chen"], tmp_path, mode="noanswer")),
        ]
        result = await place_call(asterisk, keys=to_queue("3"))
        alice, bruno, chen = await asyncio.gather(*phones)
        assert result.ok, result.output
        for phone in (alice, bruno, chen):
            assert phone.returncode == 0, phone.messages[-1500:]
        await wait_until_idle(app, asterisk)
    connects = [agent for event, agent in events(settings) if event == "CONNECT"]
    assert connects == ["bruno"]


async def test_linear_strategy_rings_in_file_order_and_a_busy_agent_is_skipped(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        for agent in ("chen", "bruno", "alice"):  # login order must not matter
            await log_in(app, agent, "linear")
        phones = [
            # Linear keeps the order: Alice, busy, is offered the call until max_misses (3)
            # pauses her, then Bruno gets it.
            asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path, mode="busy", calls=3)),
            asyncio.create_task(agent_phone(phone_ports["bruno"], tmp_path, talk_ms=800)),
        ]
        result = await place_call(asterisk, keys=to_queue("4"))
        alice, bruno = await asyncio.gather(*phones)
        assert result.ok, result.output
        assert alice.returncode == 0
        assert bruno.returncode == 0
        await wait_until_idle(app, asterisk)
    offered = [agent for event, agent in events(settings) if event == "OFFER"]
    assert offered == ["alice", "alice", "alice", "bruno"]
    assert [agent for event, agent in events(settings) if event == "CONNECT"] == ["bruno"]


async def test_a_caller_who_waited_too_long_overflows_to_another_queue(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        await log_in(app, "alice", "general")  # nobody in "overflowing" (max_wait_s = 2)
        phone = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path, talk_ms=800))
        result = await place_call(asterisk, keys=to_queue("5"))
        answered = await phone
        assert result.ok, result.output
        assert answered.returncode == 0
        await wait_until_idle(app, asterisk)
    log = [(e["event"], e["queue"]) for e in queue_log(settings)]
    assert ("EXITWITHTIMEOUT", "overflowing") in log
    assert log.index(("EXITWITHTIMEOUT", "overflowing")) < log.index(("ENTERQUEUE", "general"))
    assert ("CONNECT", "general") in log


async def test_a_volunteer_on_a_mobile_must_press_1_before_the_caller_is_connected(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        await log_in(app, "dana", "mobile")  # max_misses = 1: one miss pauses her
        # First offer: voicemail-like, answers and never presses 1 -> not connected.
        voicemail = asyncio.create_task(
            agent_phone(phone_ports["dana"], tmp_path, talk_ms=0, max_seconds=20)
        )
        caller = asyncio.create_task(place_call(asterisk, keys=to_queue("6"), hangup_ms=6000))
        missed = await voicemail
        assert (await caller).ok
        await wait_until_idle(app, asterisk)
        assert ("RINGNOANSWER", "dana") in events(settings)
        assert "CONNECT" not in [e for e, _ in events(settings)]
        await app.acd.store.resume("dana", app.acd.clock())
        # Second offer: Dana presses 1 and talks.
        phone = asyncio.create_task(
            agent_phone(phone_ports["dana"], tmp_path, key="1", key_ms=600, talk_ms=1200)
        )
        result = await place_call(asterisk, keys=to_queue("6"))
        answered = await phone
        assert result.ok, result.output
        assert answered.returncode == 0, answered.messages[-1500:]
        await wait_until_idle(app, asterisk)
    assert missed.returncode == 0
    assert [a for e, a in events(settings) if e == "CONNECT"] == ["dana"]
    (invite,) = answered.invites
    assert CALLER.lstrip("+")[-10:] not in invite
    assert invite.startswith("INVITE sip:+15145550999@")


def keyed(text: str, gap_ms: int = 250, first_ms: int = 1500) -> tuple[tuple[int, str], ...]:
    """Keys for the volunteer line: each character of ``text`` after a short pause."""
    return tuple((first_ms if i == 0 else gap_ms, c) for i, c in enumerate(text))


async def test_volunteers_log_in_and_out_by_phone_with_their_pin(
    settings: Settings, asterisk: PrivateAsterisk, test_flow: Flow
) -> None:
    line = settings.acd.volunteer_did
    async with running_app(settings, test_flow) as app:
        # A wrong PIN first, then the right one; Alice has several queues: 0 = all of them.
        wrong = await place_call(asterisk, dial=line, keys=keyed("101#9999#"), hangup_ms=3000)
        assert wrong.ok, wrong.output
        alice = await app.acd.store.agent("alice")
        assert alice is not None
        assert alice.state is AgentState.LOGGED_OUT
        login = await place_call(asterisk, dial=line, keys=(*keyed("101#1111#"), (1200, "2")))
        assert login.ok, login.output
        alice = await app.acd.store.agent("alice")
        assert alice is not None
        assert alice.state is AgentState.AVAILABLE
        assert alice.queues == ("ringall",)  # queue 2 of her profile
        # A second call logs her out.
        logout = await place_call(asterisk, dial=line, keys=keyed("101#1111#"))
        assert logout.ok, logout.output
        await wait_until_idle(app, asterisk)
        alice = await app.acd.store.agent("alice")
        assert alice is not None
        assert alice.state is AgentState.LOGGED_OUT
        assert await app.redis.keys(f"{settings.redis.prefix}:login:*") == []


async def test_a_callback_keeps_the_place_and_calls_the_volunteer_first(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        # Nobody is logged in: the caller presses * to be called back, and hangs up.
        result = await place_call(asterisk, keys=(*TO_GENERAL, (1500, "*")))
        assert result.ok, result.output
        await wait_until_idle(app, asterisk)
        waiting = await app.acd.store.waiting("general")
        assert [c.kind.value for c in waiting] == ["callback"]
        # Alice logs in: she is rung first, then the caller is dialled through the trunk.
        caller_phone = asyncio.create_task(agent_phone(phone_ports["dana"], tmp_path))
        alice_phone = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path, talk_ms=1500))
        await log_in(app, "alice")
        alice, called_back = await asyncio.gather(alice_phone, caller_phone)
        assert alice.returncode == 0, alice.messages[-1500:]
        assert called_back.returncode == 0, called_back.messages[-1500:]
        await wait_until_idle(app, asterisk)
        assert await app.acd.store.waiting("general") == ()
    digits = CALLER.lstrip("+")[-10:]
    (to_alice,) = alice.invites
    assert digits not in to_alice
    assert "Callback" in to_alice
    (to_caller,) = called_back.invites
    assert to_caller.startswith(f"INVITE sip:{CALLER}@")
    from_header = next(line for line in to_caller.splitlines() if line.startswith("From:"))
    assert settings.asterisk.hotline_number in from_header
    seen = [e for e, _ in events(settings)]
    assert "CALLBACK" in seen
    assert seen.index("CALLBACK") < seen.index("CONNECT")


async def test_two_app_instances_sharing_redis_never_double_offer(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    other = dataclasses.replace(
        settings,
        ari=dataclasses.replace(settings.ari, app=f"{settings.ari.app}-b"),
        http=dataclasses.replace(settings.http, port=free_port()),
    )

    def clock() -> datetime:
        return MONDAY_10AM_TORONTO

    async with (
        running_app(settings, test_flow, clock=clock) as a,
        running_app(other, test_flow, clock=clock),
    ):
        for agent in ("alice", "bruno"):
            await log_in(a, agent)
        phones = [
            asyncio.create_task(agent_phone(phone_ports[n], tmp_path, talk_ms=2500))
            for n in ("alice", "bruno")
        ]
        # One caller enters through instance A, the next through instance B.
        first = asyncio.create_task(place_call(asterisk, keys=TO_GENERAL))
        await asyncio.sleep(0.5)
        await asyncio.to_thread(asterisk.rx, f"dialplan set global HOTLINE_APP {other.ari.app}")
        try:
            second = await place_call(asterisk, keys=TO_GENERAL, caller="+15145550124")
        finally:
            await asyncio.to_thread(
                asterisk.rx, f"dialplan set global HOTLINE_APP {settings.ari.app}"
            )
        results = [await first, second]
        answered = await asyncio.gather(*phones)
        assert all(r.ok for r in results), [r.output[-800:] for r in results]
        assert all(p.returncode == 0 for p in answered)
        await wait_until_idle(a, asterisk)
    log = queue_log(settings)
    connects = sorted((e["call"], e["agent"]) for e in log if e["event"] == "CONNECT")
    assert len(connects) == 2
    assert len({call for call, _ in connects}) == 2
    assert {agent for _, agent in connects} == {"alice", "bruno"}
    offers = [e for e in log if e["event"] == "OFFER"]
    assert len(offers) == 2  # one offer per call: nobody was offered twice


async def test_a_nailed_up_operator_stays_connected_and_gets_callers_without_ringing(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        await log_in(app, "erin")  # nailed_up = true, on the phone at Alice's port
        # One INVITE for the whole session: the phone stays up until we hang it up.
        phone = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path, max_seconds=60))
        first = await place_call(asterisk, keys=TO_GENERAL, hangup_ms=1500)
        second = await place_call(asterisk, keys=TO_GENERAL, hangup_ms=1500, caller="+15145550125")
        assert first.ok, first.output
        assert second.ok, second.output
        erin = None
        for _ in range(50):  # the second caller's hang-up reaches the app just after SIPp ends
            erin = await app.acd.store.agent("erin")
            assert erin is not None
            if erin.state is not AgentState.ON_CALL:
                break
            await asyncio.sleep(0.1)
        assert erin is not None
        assert erin.state in (AgentState.WRAP_UP, AgentState.AVAILABLE)
        await app.acd.store.logout("erin", app.acd.clock())
        await app.ari.hangup("nail-erin")
        operator = await phone
        assert operator.returncode == 0, operator.messages[-1500:]
        await wait_until_idle(app, asterisk)
    assert len(operator.invites) == 1
    connects = [e for e in queue_log(settings) if e["event"] == "CONNECT"]
    assert [e["agent"] for e in connects] == ["erin", "erin"]


async def test_a_waiting_caller_can_go_on_by_text_keeping_their_place(
    settings: Settings, asterisk: PrivateAsterisk, test_flow: Flow
) -> None:
    keys = Keys(settings.redis.prefix)
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        result = await place_call(asterisk, keys=(*TO_GENERAL, (2000, "#")))
        assert result.ok, result.output
        await wait_until_idle(app, asterisk)
        assert await app.acd.store.waiting("general") == ()  # left the voice queue
        entry = await app.vault.find(CALLER)
        assert entry is not None
        conversation = str(await app.redis.get(keys.open_conversation(entry.ref)))
        messages = await app.redis.lrange(keys.conversation_messages(conversation), 0, -1)
        task = await app.redis.hgetall(keys.chat(conversation))
        opened = float(await app.redis.hget(keys.conversation(conversation), "opened_at") or 0)
    (system,) = [json.loads(m) for m in messages]
    assert system["author"] == "system"
    assert "queue=general" in system["body"]
    assert "language=en" in system["body"]
    # Placed in the chat queue by when the call started waiting, not by when it switched.
    assert float(task["enqueued_at"]) < opened - 1
    log = [e["event"] for e in queue_log(settings)]
    assert log[-1] == "ABANDON"


async def test_a_callback_request_is_confirmed_by_sms_with_a_reference(
    settings: Settings, asterisk: PrivateAsterisk, test_flow: Flow
) -> None:
    keys = Keys(settings.redis.prefix)
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        result = await place_call(asterisk, keys=(*TO_GENERAL, (1500, "*")))
        assert result.ok, result.output
        await wait_until_idle(app, asterisk)
        message_ids = await app.redis.keys(keys.sms_message("*"))
        records = [await app.redis.hgetall(k) for k in message_ids]
    confirmations = [r for r in records if r.get("kind") == "confirmation"]
    assert len(confirmations) == 1
    assert "reference" in confirmations[0]["body"].lower()
    assert CALLER.lstrip("+")[-10:] not in str(records)


async def ask_to_call_texter(app: HotlineApp, caller_ref: str, pseudonym: str, call: str) -> None:
    """What the SMS side does when Alice texts "#call" in a conversation: she is taken out of
    queue routing, then the request goes on the voice stream."""
    texter_calls = app.sms.conversations.texter_calls
    assert texter_calls is not None
    await texter_calls.hold(call, "alice", app.acd.clock())
    request: dict[Any, Any] = {
        "kind": "callback", "call": call, "request": "r1", "reference": "4821",
        "conversation": "c1", "caller_ref": caller_ref, "pseudonym": pseudonym,
        "language": "fr", "agent": "alice", "queue": "general", "requested_at": "0",
    }  # fmt: skip
    await app.redis.xadd(Keys(app.settings.redis.prefix).voice_requests, request)


async def test_a_volunteer_can_call_a_texter_back_through_a_masked_bridge(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    keys = Keys(settings.redis.prefix)
    texter = "+15145550126"
    async with running_app(settings, test_flow) as app:
        await log_in(app, "alice")
        entry = await app.vault.store(texter, "fr", now=datetime.now(UTC))
        # The texter ends the call: Alice's phone waits for the service's BYE, however long
        # the texter took to be rung.
        texter_phone = asyncio.create_task(agent_phone(phone_ports["dana"], tmp_path, talk_ms=1500))
        alice_phone = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path))
        await ask_to_call_texter(app, entry.ref, entry.pseudonym, "txt1")
        alice, called = await asyncio.gather(alice_phone, texter_phone)
        assert alice.returncode == 0, alice.messages[-1500:]
        assert called.returncode == 0, called.messages[-1500:]
        await wait_until_idle(app, asterisk)
        pending = await app.redis.xpending(keys.voice_requests, "ari")
        after = await app.acd.store.agent("alice")
    assert after is not None
    assert after.state is AgentState.AVAILABLE  # no wrap-up: the call was no queue's
    (to_alice,) = alice.invites
    assert texter.lstrip("+") not in to_alice
    assert entry.pseudonym in to_alice
    (to_texter,) = called.invites
    assert to_texter.startswith(f"INVITE sip:{texter}@")
    from_header = next(line for line in to_texter.splitlines() if line.startswith("From:"))
    assert settings.asterisk.hotline_number in from_header
    assert "alice" not in from_header.lower()
    assert pending["pending"] == 0  # the request was acknowledged


async def test_a_volunteer_calling_a_texter_is_offered_no_queue_call_meanwhile(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        await log_in(app, "alice")  # idle the longest: the queue's first choice when free
        await log_in(app, "bruno")
        entry = await app.vault.store("+15145550126", "fr", now=datetime.now(UTC))
        texter_phone = asyncio.create_task(
            agent_phone(phone_ports["dana"], tmp_path, talk_ms=20_000)
        )
        alice_phone = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path))
        bruno_phone = asyncio.create_task(agent_phone(phone_ports["bruno"], tmp_path, talk_ms=1000))
        await ask_to_call_texter(app, entry.ref, entry.pseudonym, "txt1")
        deadline = time.monotonic() + 30
        while (leg := await app.acd.records.leg("callee-txt1")) is None or (
            leg.phase is not LegPhase.BRIDGED
        ):
            assert time.monotonic() < deadline, "the texter was not connected to Alice"
            await asyncio.sleep(0.1)
        # While Alice talks to the texter, a caller queues: Bruno gets the call.
        result = await place_call(asterisk, keys=TO_GENERAL)
        bruno = await bruno_phone
        assert result.ok, result.output
        assert bruno.returncode == 0, bruno.messages[-1500:]
        assert not texter_phone.done()  # the queue's call came and went during Alice's
        during = await app.acd.store.agent("alice")
        alice, called = await asyncio.gather(alice_phone, texter_phone)
        assert alice.returncode == 0, alice.messages[-1500:]
        assert called.returncode == 0, called.messages[-1500:]
        await wait_until_idle(app, asterisk)
        after = await app.acd.store.agent("alice")
    assert during is not None
    assert (during.state, during.call_id) == (AgentState.ON_CALL, "txt1")
    assert len(alice.invites) == 1  # the call she asked for, and nothing else
    offered = [agent for event, agent in events(settings) if event in ("OFFER", "CONNECT")]
    assert offered == ["bruno", "bruno"]
    assert after is not None
    assert after.state is AgentState.AVAILABLE


async def test_round_robin_takes_turns_in_file_order(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        for agent in ("chen", "alice", "bruno"):  # login order must not matter
            await log_in(app, agent, "rr")
        phones = [
            asyncio.create_task(agent_phone(phone_ports[n], tmp_path, talk_ms=600))
            for n in ("alice", "bruno", "chen")
        ]
        for caller in ("+15145550131", "+15145550132", "+15145550133"):
            result = await place_call(asterisk, keys=to_queue("7"), caller=caller)
            assert result.ok, result.output
        answered = await asyncio.gather(*phones)
        assert all(p.returncode == 0 for p in answered)
        await wait_until_idle(app, asterisk)
    assert [a for e, a in events(settings) if e == "CONNECT"] == ["alice", "bruno", "chen"]


async def test_skills_choose_the_fluent_volunteer_and_widening_lets_others_help_later(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        # Alice (French level 2) has waited longest, but the call needs level 4 at first.
        await log_in(app, "alice", "skilled")
        await log_in(app, "bruno", "skilled")
        bruno = asyncio.create_task(agent_phone(phone_ports["bruno"], tmp_path, talk_ms=600))
        first = await place_call(asterisk, keys=to_queue("8"))
        assert first.ok, first.output
        assert (await bruno).returncode == 0
        await wait_until_idle(app, asterisk)
        # Without Bruno, the call waits until widening (3 s) lets Alice take it.
        await app.acd.store.logout("bruno", app.acd.clock())
        alice = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path, talk_ms=600))
        second = await place_call(asterisk, keys=to_queue("8"), caller="+15145550134")
        assert second.ok, second.output
        assert (await alice).returncode == 0
        await wait_until_idle(app, asterisk)
    log = [e for e in queue_log(settings) if e["event"] in ("ENTERQUEUE", "CONNECT")]
    assert [(e["event"], e["agent"]) for e in log] == [
        ("ENTERQUEUE", "NONE"),
        ("CONNECT", "bruno"),
        ("ENTERQUEUE", "NONE"),
        ("CONNECT", "alice"),
    ]
    waited = float(log[3]["time"]) - float(log[2]["time"])
    assert waited >= 2.9  # not offered to a level-2 volunteer before the rule's 3 s


def to_more(digit: str) -> tuple[tuple[int, str], ...]:
    """Keys that reach a queue of the "*" submenu: English, "*", then ``digit``."""
    return ((2000, "1"), (900, "*"), (900, digit))


async def test_fewest_calls_offers_the_volunteer_who_took_the_fewest(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    async def calls_to(agent: str, count: int) -> None:
        phone = asyncio.create_task(
            agent_phone(phone_ports[agent], tmp_path, talk_ms=300, calls=count)
        )
        for _ in range(count):
            result = await place_call(asterisk, keys=to_more("1"))
            assert result.ok, result.output
        assert (await phone).returncode == 0

    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        await log_in(app, "alice", "fewest")
        await calls_to("alice", 2)
        # Bruno joins: he has taken fewer calls, twice (longest-idle would pick Alice for the
        # second one: she has been idle since before Bruno logged in).
        await log_in(app, "bruno", "fewest")
        await calls_to("bruno", 2)
        await log_in(app, "chen", "fewest")
        await calls_to("chen", 1)
        await wait_until_idle(app, asterisk)
    seen = events(settings)
    assert [a for e, a in seen if e == "CONNECT"] == ["alice", "alice", "bruno", "bruno", "chen"]
    assert not [e for e, _ in seen if e in ("RINGNOANSWER", "RINGCANCELED")]


async def test_random_offers_calls_only_to_volunteers_taking_that_queues_calls(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        for agent in ("alice", "bruno", "chen"):
            await log_in(app, agent, "random", "general")
        # Bruno still takes "general" calls, but none from "random".
        await app.acd.store.pause("bruno", "mentoring", app.acd.clock(), queue="random")
        phones = [
            asyncio.create_task(agent_phone(phone_ports[a], tmp_path, talk_ms=300, calls=4))
            for a in ("alice", "bruno", "chen")
        ]
        for _ in range(4):
            result = await place_call(asterisk, keys=to_more("2"))
            assert result.ok, result.output
        await wait_until_idle(app, asterisk)
        for phone in phones:  # each waits for up to 4 calls: stop them
            phone.cancel()
        await asyncio.gather(*phones, return_exceptions=True)
    seen = events(settings)
    connected = [a for e, a in seen if e == "CONNECT"]
    assert len(connected) == 4
    assert set(connected) <= {"alice", "chen"}
    assert not [e for e, _ in seen if e in ("RINGNOANSWER", "RINGCANCELED")]


async def until(check: Callable[[], Awaitable[bool]], what: str, within: float = 20) -> None:
    """Wait until ``check()`` holds."""
    deadline = time.monotonic() + within
    while True:
        if await check():
            return
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.1)


async def on_call(
    app: HotlineApp, agent: str, within: float = 20, *, besides: tuple[str, ...] = ()
) -> str:
    """Wait until ``agent`` is on a call (one not in ``besides``); its call id."""
    found: list[str] = []

    async def talking() -> bool:
        view = await app.acd.store.agent(agent)
        if view is not None and view.state is AgentState.ON_CALL and view.call_id not in besides:
            found.append(view.call_id)
        return bool(found)

    await until(talking, f"{agent} got a call", within)
    return found[0]


async def test_a_connected_call_transferred_to_a_queue_waits_there_for_its_volunteers(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        await log_in(app, "alice")
        await log_in(app, "bruno", "linear")
        alice = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path, talk_ms=0))
        bruno = asyncio.create_task(agent_phone(phone_ports["bruno"], tmp_path, talk_ms=1000))
        caller = asyncio.create_task(place_call(asterisk, keys=TO_GENERAL))
        call_id = await on_call(app, "alice")
        await request_transfer(app.acd.store, call_id, Transfer(TransferKind.QUEUE, "linear"))
        result = await caller
        assert result.ok, result.output
        handed, taken = await asyncio.gather(alice, bruno)
        assert handed.returncode == 0, handed.messages[-1500:]
        assert taken.returncode == 0, taken.messages[-1500:]
        await wait_until_idle(app, asterisk)
    log = [e for e in queue_log(settings) if e["event"] in ("TRANSFER", "ENTERQUEUE", "CONNECT")]
    assert [(e["event"], e["queue"], e["agent"]) for e in log] == [
        ("ENTERQUEUE", "general", "NONE"),
        ("CONNECT", "general", "alice"),
        ("TRANSFER", "general", "alice"),
        ("ENTERQUEUE", "linear", "NONE"),
        ("CONNECT", "linear", "bruno"),
    ]


async def test_a_volunteer_gets_the_next_caller_only_after_wrap_up(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    # A tick too slow to matter: the freed volunteer is offered the next caller by the end
    # of the wrap-up itself.
    settings = dataclasses.replace(settings, acd=dataclasses.replace(settings.acd, tick_s=60))
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        wrapup_s = app.acd.queues["general"].wrapup_s
        assert wrapup_s > 0
        await log_in(app, "alice")
        phone = asyncio.create_task(
            agent_phone(phone_ports["alice"], tmp_path, talk_ms=2500, calls=2)
        )
        first = asyncio.create_task(place_call(asterisk, keys=TO_GENERAL))
        await asyncio.sleep(0.5)  # the second caller waits while Alice talks to the first
        second = await place_call(asterisk, keys=TO_GENERAL, caller="+15145550135")
        assert second.ok, second.output
        assert (await first).ok
        assert (await phone).returncode == 0
        await wait_until_idle(app, asterisk)
    log = [
        (e["event"], float(e["time"]))
        for e in queue_log(settings)
        if e["event"] in ("CONNECT", "COMPLETEAGENT", "WRAPUPEND")
    ]
    assert [e for e, _ in log[:4]] == ["CONNECT", "COMPLETEAGENT", "WRAPUPEND", "CONNECT"]
    (_, ended), (_, wrapped), (_, connected) = log[1:4]
    assert wrapped - ended >= wrapup_s - 0.01
    assert connected >= wrapped
    assert connected - ended < wrapup_s + 1.0


async def hand_over_to_bruno(
    app: HotlineApp,
    asterisk: PrivateAsterisk,
    phone_ports: dict[str, int],
    tmp_path: Path,
    *,
    by_key: bool,
) -> str:
    """Alice takes a "general" call and hands it to Bruno (on duty in another queue): by
    pressing the supervisor key, or through a transfer request. Bruno's INVITE."""
    await log_in(app, "alice")  # general
    await log_in(app, "bruno", "linear")  # available, but takes no "general" call
    alice = asyncio.create_task(
        agent_phone(
            phone_ports["alice"],
            tmp_path,
            key="*" if by_key else "x",  # "x": no key
            key_ms=1500 if by_key else 0,
            talk_ms=0,
        )
    )
    bruno = asyncio.create_task(agent_phone(phone_ports["bruno"], tmp_path, talk_ms=1500))
    caller = asyncio.create_task(place_call(asterisk, keys=TO_GENERAL))
    if not by_key:
        call_id = await on_call(app, "alice")
        await request_transfer(app.acd.store, call_id, Transfer(TransferKind.AGENT, "bruno"))
    result = await caller  # the caller stays on until Bruno hangs up
    assert result.ok, result.output
    handed, taken = await asyncio.gather(alice, bruno)
    assert handed.returncode == 0, handed.messages[-1500:]  # Alice got a BYE
    assert taken.returncode == 0, taken.messages[-1500:]
    await wait_until_idle(app, asterisk)
    (invite,) = taken.invites
    return invite


@pytest.mark.parametrize("by_key", [False, True], ids=["by-request", "by-supervisor-key"])
async def test_a_volunteer_hands_a_call_to_a_supervisor_who_takes_it_over(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
    by_key: bool,
) -> None:
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        assert app.acd.queues["general"].supervisor == "bruno"
        invite = await hand_over_to_bruno(app, asterisk, phone_ports, tmp_path, by_key=by_key)
    seen = [(e, a) for e, a in events(settings) if e not in ("ADDMEMBER", "WRAPUPEND")]
    assert seen[-5:] == [
        ("CONNECT", "alice"),
        ("OFFER", "bruno"),
        ("TRANSFER", "alice"),
        ("CONNECT", "bruno"),
        ("COMPLETEAGENT", "bruno"),
    ]
    assert CALLER.lstrip("+")[-10:] not in invite
    assert "Transfer " in invite.split("From:", 1)[1].splitlines()[0]


async def test_callers_overflowing_a_full_queue_are_all_called_back(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    promised = [f"+1514555{n:04d}" for n in range(3)]
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        # One caller waits (the queue holds one); three more call at once and overflow to a
        # callback: each is told so only once it is stored, and hangs up.
        waiting = asyncio.create_task(place_call(asterisk, keys=to_more("3"), hangup_ms=6000))
        await asyncio.sleep(3)
        results = await asyncio.gather(
            *(place_call(asterisk, keys=to_more("3"), caller=number) for number in promised)
        )
        assert all(r.ok for r in results), [r.output for r in results]
        assert (await waiting).ok
        await wait_until_idle(app, asterisk)
        queued = await app.acd.store.waiting("callbacks")
        assert [c.kind.value for c in queued] == ["callback"] * 3
        # Alice logs in: every promised callback is made, from the hotline number.
        called = asyncio.create_task(agent_phone(phone_ports["dana"], tmp_path, calls=3))
        alice = asyncio.create_task(
            agent_phone(phone_ports["alice"], tmp_path, talk_ms=2000, calls=3)
        )
        await log_in(app, "alice", "callbacks")
        answered, dialled = await asyncio.gather(alice, called)
        assert answered.returncode == 0, answered.messages[-1500:]
        assert dialled.returncode == 0, dialled.messages[-1500:]
        await wait_until_idle(app, asterisk)
        assert await app.acd.store.waiting("callbacks") == ()
    assert sorted(i.split()[1].split("@")[0] for i in dialled.invites) == sorted(
        f"sip:{n}" for n in promised
    )
    log = [e["event"] for e in queue_log(settings) if e["queue"] == "callbacks"]
    assert log.count("FULL") == 3
    assert log.count("COMPLETEAGENT") + log.count("COMPLETECALLER") == 3


async def test_the_app_stops_at_once_in_the_middle_of_every_kind_of_call(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    """Closing is bounded, with a caller talking to a volunteer, one waiting in a queue, one
    ringing a volunteer who does not answer, and one in the IVR's greeting."""

    async def connected() -> bool:
        return app.stream.is_connected

    async def bruno_rings() -> bool:
        view = await app.acd.store.agent("bruno")
        return view is not None and view.state is AgentState.OFFERED

    async def one_waits() -> bool:
        return bool(await app.acd.store.waiting("general"))

    def start(call: Coroutine[Any, Any, object]) -> None:
        sipp.append(asyncio.create_task(call))

    sipp: list[asyncio.Task[object]] = []
    app = HotlineApp(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO)
    await app.__aenter__()
    try:
        await until(connected, "connected to ARI")
        await log_in(app, "alice")  # general
        await log_in(app, "bruno", "linear")
        start(agent_phone(phone_ports["alice"], tmp_path))
        start(place_call(asterisk, keys=TO_GENERAL))
        await on_call(app, "alice")
        start(place_call(asterisk, keys=TO_GENERAL, caller="+15145550141"))
        start(agent_phone(phone_ports["bruno"], tmp_path, mode="noanswer"))
        start(place_call(asterisk, keys=to_queue("4"), caller="+15145550142"))
        start(place_call(asterisk, caller="+15145550143"))  # stays in the IVR's greeting
        await until(bruno_rings, "Bruno rung")
        await until(one_waits, "a caller waiting")
        started = time.monotonic()
        await app.close()
        stopped_in = time.monotonic() - started
    finally:
        # Every call ends with its BYE or CANCEL, so no SIPp is left with a call half-ended.
        await asyncio.to_thread(asterisk.rx, "channel request hangup all")
        _, unfinished = await asyncio.wait(sipp, timeout=15)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*sipp, return_exceptions=True)
    assert stopped_in < 5, f"close took {stopped_in:.1f} s"
    ours = ("/core/", "/acd/", "/ivr/", "/sms/", "/hotline/")
    files = {
        t: getattr(getattr(t.get_coro(), "cr_code", None), "co_filename", "")
        for t in asyncio.all_tasks()
    }
    left = [t.get_name() for t, f in files.items() if not t.done() and any(p in f for p in ours)]
    assert left == []

    async def no_channel() -> bool:
        return not await asyncio.to_thread(asterisk.channel_count)

    await until(no_channel, "no call left in Asterisk", within=10)


async def test_a_call_ending_while_redis_restarts_still_frees_its_volunteer(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    """Alice hangs up while Redis is down: her leg's end is handled once Redis is back (data
    kept), so the caller is hung up and Alice wraps up instead of staying on the call."""
    own = RedisServer(tmp_path / "redis").start()
    alone = dataclasses.replace(settings, redis=dataclasses.replace(settings.redis, url=own.url))
    try:
        async with running_app(alone, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
            await log_in(app, "alice")
            alice = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path, talk_ms=4000))
            caller = asyncio.create_task(place_call(asterisk, keys=TO_GENERAL))
            await on_call(app, "alice")
            await asyncio.to_thread(shut_down_saving, own)  # Alice hangs up meanwhile
            await asyncio.sleep(6)
            own = RedisServer(own.root, port=own.port).start()  # the same data, back
            result = await caller
            assert result.ok, result.output
            assert (await alice).returncode == 0
            await wait_until_idle(app, asterisk)
            view = await app.acd.store.agent("alice")
    finally:
        own.stop()
    assert view is not None
    assert view.state in (AgentState.WRAP_UP, AgentState.AVAILABLE)
    assert result.seconds < 25


def shut_down_saving(server: RedisServer) -> None:
    """Stop a Redis server the way a restart does: its data saved for the next start."""
    client = redis.Redis(port=server.port)
    try:
        client.shutdown(save=True)
    except redis.ConnectionError:
        pass  # the server closed the connection as it went down
    finally:
        client.close()
    assert server.proc is not None
    server.proc.wait(10)
