"""Kamailio in front of two Asterisks (127.0.0.2 and 127.0.0.3): the dispatcher spreads new
calls over both and routes around one that died."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from acd.routing import AgentState
from acd.store import AcdStore
from core.config import Settings
from core.keys import Keys
from hotline.harness import PrivateAsterisk, RedisServer, free_port, udp_bound
from hotline.phones import read_secrets
from hotline.sip_proxy import PrivateKamailio
from sms.sip_provider import SipProvider
from tests.conftest import (
    CALLER,
    EXTERNAL,
    REMOTE_PHONE,
    TESTS,
    CallResult,
    agent_phone,
    app_process,
    place_call,
    queue_log,
    worker_process,
)
from tests.e2e.test_drills import HELD, STRAIGHT, shared_store, sign_in, until_in_state
from tests.e2e.test_phones import register
from tests.e2e.test_sip_messages import carrier_receives, carrier_sends, sipp

#: Keep each call short: answered by the fallback (no app is connected), hung up at once.
HANGUP_MS = 200


@dataclass
class Farm:
    """Kamailio and the Asterisks it dispatches to, in dispatch order, and the UDP port on
    127.0.0.1 where they reach the carrier (through the proxy)."""

    proxy: PrivateKamailio
    boxes: tuple[PrivateAsterisk, ...]
    carrier_port: int


def box(
    root: Path, settings: Settings, address: str, name: str, proxy: str, carrier: str
) -> PrivateAsterisk:
    """An Asterisk on ``address`` with its own ARI app name, behind the ``proxy`` (on
    127.0.0.1, so also its carrier's address), reaching the ``carrier`` (``host:port``)
    through it."""
    instance = PrivateAsterisk.with_free_ports(root, settings, rtp_ports=200, address=address)
    s = instance.settings
    instance.settings = dataclasses.replace(
        s,
        ari=dataclasses.replace(s.ari, app=f"{s.ari.app}-{name}"),
        asterisk=dataclasses.replace(
            s.asterisk, sip_proxy=proxy, system_name=f"box-{name}", carrier_host=carrier
        ),
    )
    return instance


@pytest.fixture
def farm(tmp_path: Path, base_settings: Settings) -> Iterator[Farm]:
    """Asterisk A on 127.0.0.2 and B on 127.0.0.3, behind Kamailio on 127.0.0.1; both reach
    the registering phone through the proxy."""
    proxy_port = free_port()
    proxy_address = f"127.0.0.1:{proxy_port}"
    carrier_port = free_port(socket.SOCK_DGRAM)
    carrier = f"127.0.0.1:{carrier_port}"
    boxes = (
        box(tmp_path / "a", base_settings, "127.0.0.2", "a", proxy_address, carrier),
        box(tmp_path / "b", base_settings, "127.0.0.3", "b", proxy_address, carrier),
    )
    addresses = tuple(instance.sip_address for instance in boxes)
    proxy_settings = dataclasses.replace(
        base_settings.proxy,
        listen="127.0.0.1",
        sip_port=proxy_port,
        asterisks=addresses,
        children=2,
    )
    proxy = PrivateKamailio(
        tmp_path / "kamailio", dataclasses.replace(base_settings, proxy=proxy_settings)
    )
    started: list[PrivateAsterisk] = []
    try:
        for instance in boxes:
            started.append(instance.start())
        yield Farm(proxy.start(), boxes, carrier_port)
    finally:
        proxy.stop()
        for instance in started:
            instance.stop()


async def calls_through(farm: Farm, count: int) -> list[float]:
    """Place ``count`` calls one after another through the proxy; each one's duration."""
    seconds = []
    for _ in range(count):
        result = await place_call(farm.boxes[0], hangup_ms=HANGUP_MS, via=farm.proxy.address)
        assert result.ok, result.output[-6000:]
        seconds.append(result.seconds)
    return seconds


def processed(farm: Farm) -> list[int]:
    return [instance.calls_processed() for instance in farm.boxes]


async def test_calls_spread_over_both_boxes_and_route_around_a_dead_one(farm: Farm) -> None:
    await calls_through(farm, 4)
    assert await asyncio.to_thread(processed, farm) == [2, 2]

    a, b = farm.boxes
    await asyncio.to_thread(a.kill)
    # Before a probe notices, a call tried on A times out there and is sent on to B.
    before = await asyncio.to_thread(b.calls_processed)
    await calls_through(farm, 2)
    assert await asyncio.to_thread(b.calls_processed) == before + 2

    # Within a probe interval, A is out of the set: calls go straight to B, no timeout first.
    await asyncio.sleep(farm.proxy.settings.proxy.probe_interval_s + 0.5)
    timeout_s = farm.proxy.settings.proxy.invite_timeout_ms / 1000
    start = time.monotonic()
    durations = await calls_through(farm, 4)
    assert max(durations) < timeout_s, durations
    assert await asyncio.to_thread(b.calls_processed) == before + 6
    assert time.monotonic() - start < 4 * timeout_s


def app_settings(instance: PrivateAsterisk, redis_url: str, root: Path) -> Settings:
    """An app instance's settings: its own Asterisk, ARI app name and HTTP port, the shared
    Redis."""
    s = instance.settings
    return dataclasses.replace(
        s,
        redis=dataclasses.replace(s.redis, url=redis_url),
        http=dataclasses.replace(s.http, port=free_port()),
        records=dataclasses.replace(s.records, data_dir=root / "records"),
    )


def apps(farm: Farm, redis_url: str, tmp_path: Path) -> tuple[Settings, Settings]:
    """Settings of an app instance for each box, on an emptied Redis."""
    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()
    a, b = (
        app_settings(instance, redis_url, tmp_path / name)
        for instance, name in zip(farm.boxes, "ab", strict=True)
    )
    return a, b


async def apps_and_phone(
    farm: Farm, redis_url: str, tmp_path: Path
) -> tuple[Settings, Settings, int]:
    """Settings of an app instance for each box (on an empty Redis), and the port of the
    volunteer's phone, registered with the proxy."""
    a, b = apps(farm, redis_url, tmp_path)
    phone_port = free_port()
    secret = read_secrets(a.phones.secrets_file)[REMOTE_PHONE]
    registered = await register(
        farm.boxes[0], tmp_path, "127.0.0.1", phone_port, secret, registrar=farm.proxy.address
    )
    assert registered == [401, 200]
    return a, b, phone_port


async def test_a_caller_on_either_box_reaches_the_volunteer_registered_through_the_proxy(
    farm: Farm, redis_server: RedisServer, tmp_path: Path
) -> None:
    a, b, phone_port = await apps_and_phone(farm, redis_server.url, tmp_path)
    async with (
        shared_store(a) as store,
        app_process(a, STRAIGHT, tmp_path / "a"),
        app_process(b, STRAIGHT, tmp_path / "b"),
    ):
        await sign_in(store, a, REMOTE_PHONE)
        phone = asyncio.create_task(agent_phone(phone_port, tmp_path, talk_ms=800, calls=2))
        # One after the other: round-robin sends one call to each box.
        for _ in range(2):
            result = await place_call(farm.boxes[0], via=farm.proxy.address)
            assert result.ok, result.output[-3000:]
        answered = await phone
    assert answered.returncode == 0, answered.messages[-3000:]
    assert [instance.calls_processed() for instance in farm.boxes] == [1, 1]  # a caller each
    log = queue_log(a)
    connects = [e["agent"] for e in log if e["event"] == "CONNECT"]
    assert connects == [REMOTE_PHONE, REMOTE_PHONE]
    assert len(answered.invites) == 2  # each call offered once, from one box
    digits = CALLER.lstrip("+")[-10:]
    for invite in answered.invites:
        assert digits not in invite


async def test_a_box_killed_under_calls_loses_only_its_own_and_frees_its_volunteer(
    farm: Farm, redis_server: RedisServer, tmp_path: Path
) -> None:
    """kill -9 of the Asterisk where a caller talks to Fiona while four callers are in (two a
    box, round-robin): the calls on that box are lost (their media was there) and counted;
    every other call lives: the callers waiting on the surviving box reach Fiona, whom the
    reconciliation freed, and so does a caller arriving after the kill."""
    a, b, phone_port = await apps_and_phone(farm, redis_server.url, tmp_path)
    async with (
        shared_store(a) as store,
        app_process(a, STRAIGHT, tmp_path / "a"),
        app_process(b, STRAIGHT, tmp_path / "b"),
    ):
        await sign_in(store, a, REMOTE_PHONE)
        first_phone = asyncio.create_task(agent_phone(phone_port, tmp_path, talk_ms=60_000))
        calls = [asyncio.create_task(place_call(farm.boxes[0], via=farm.proxy.address))]
        await until_in_state(store, REMOTE_PHONE, AgentState.ON_CALL, "Fiona talking")
        for waiting in range(1, 4):
            calls.append(asyncio.create_task(place_call(farm.boxes[0], via=farm.proxy.address)))
            await until_waiting(store, waiting)
        counts = [await asyncio.to_thread(i.channel_count) for i in farm.boxes]
        dead_at = 0 if counts[0] > counts[1] else 1  # Fiona's leg is there too
        dead, survivor = farm.boxes[dead_at], farm.boxes[1 - dead_at]
        dead_app = dead.settings.ari.app
        waiting_on = [c.owner_instance for c in await store.waiting("general")]
        on_dead = 1 + waiting_on.count(dead_app)  # Fiona's caller and those waiting there
        assert (on_dead, len(waiting_on) + 1 - on_dead) == (2, 2)  # round-robin: two a box
        await asyncio.to_thread(dead.kill)
        first_phone.cancel()  # nothing will ever end Fiona's call on the dead box
        with contextlib.suppress(asyncio.CancelledError):
            await first_phone

        phone = asyncio.create_task(agent_phone(phone_port, tmp_path, talk_ms=800, calls=3))
        survivors_callers = await wait_for_calls(calls, 2)
        before = await asyncio.to_thread(survivor.calls_processed)
        after = await place_call(farm.boxes[0], via=farm.proxy.address, max_seconds=30)
        assert await asyncio.to_thread(survivor.calls_processed) == before + 1
        answered = await phone
        lost = [call for call in calls if not call.done()]
        for call in lost:  # their Asterisk is gone: they would wait for a BYE until SIPp gives up
            call.cancel()
        await asyncio.gather(*lost, return_exceptions=True)
        assert len(lost) == on_dead  # the calls on the dead box, and only those, were lost
        assert all(r.ok for r in survivors_callers), [r.output[-1500:] for r in survivors_callers]
        assert after.ok, after.output[-3000:]
        assert answered.returncode == 0, answered.messages[-3000:]
        view = await store.agent(REMOTE_PHONE)
        still_waiting = await store.waiting("general")
    assert view is not None
    assert view.state not in HELD
    assert still_waiting == ()  # no caller of the dead box left in the queue
    # The reconciliation ended the lost calls (their channels gone with their Asterisk), which
    # freed Fiona; otherwise she would stay on that call until the dead box came back.
    assert "channel-gone" in {e["repair"] for e in queue_log(a) if e["event"] == "RECONCILE"}
    connects = [e["agent"] for e in queue_log(a) if e["event"] == "CONNECT"]
    assert connects == [REMOTE_PHONE] * 4  # the lost call, two waiting on B, one after the kill


async def wait_for_calls(
    calls: list[asyncio.Task[CallResult]], count: int, within: float = 40
) -> list[CallResult]:
    """The results of the first ``count`` of ``calls`` to end."""
    deadline = time.monotonic() + within
    while len(ended := [c for c in calls if c.done()]) < count:
        assert time.monotonic() < deadline, f"only {len(ended)} of {count} calls ended"
        await asyncio.sleep(0.1)
    return [c.result() for c in ended]


async def test_an_app_instance_killed_and_restarted_keeps_its_box_calls(
    farm: Farm, redis_server: RedisServer, tmp_path: Path
) -> None:
    """kill -9 of the app instance of the box where Fiona talks and a second caller waits (a
    third waits on the other box): the bridged call stays up, and once the instance is back
    both waiting callers reach Fiona in turn."""
    a, b, phone_port = await apps_and_phone(farm, redis_server.url, tmp_path)
    phone = asyncio.create_task(agent_phone(phone_port, tmp_path, talk_ms=3000, calls=3))
    async with (
        shared_store(a) as store,
        app_process(a, STRAIGHT, tmp_path / "a") as app_a,
        app_process(b, STRAIGHT, tmp_path / "b") as app_b,
    ):
        await sign_in(store, a, REMOTE_PHONE)
        calls = [asyncio.create_task(place_call(farm.boxes[0], via=farm.proxy.address))]
        await until_in_state(store, REMOTE_PHONE, AgentState.ON_CALL, "Fiona talking")
        counts = [await asyncio.to_thread(i.channel_count) for i in farm.boxes]
        here = 0 if counts[0] else 1  # the box where Fiona talks (round-robin goes on from it)
        for _ in range(2):
            calls.append(asyncio.create_task(place_call(farm.boxes[0], via=farm.proxy.address)))
            await asyncio.sleep(0.5)
        await until_waiting(store, 2)
        box_settings, box_app = ((a, app_a), (b, app_b))[here]
        await asyncio.to_thread(box_app.kill)
        await asyncio.sleep(1)
        assert await asyncio.to_thread(farm.boxes[here].channel_count) >= 3  # still bridged
        async with app_process(box_settings, STRAIGHT, tmp_path / "ab"[here]):
            results = await asyncio.gather(*calls)
            answered = await phone
        view = await store.agent(REMOTE_PHONE)
    assert all(r.ok for r in results), [r.output[-1500:] for r in results]
    assert answered.returncode == 0, answered.messages[-3000:]
    assert len(answered.invites) == 3
    assert [e["agent"] for e in queue_log(a) if e["event"] == "CONNECT"] == [REMOTE_PHONE] * 3
    assert view is not None
    assert view.state not in HELD


async def until_waiting(store: AcdStore, count: int, within: float = 10) -> None:
    """Wait until ``count`` callers wait in the "general" queue."""
    deadline = time.monotonic() + within
    while len(await store.waiting("general")) < count:
        assert time.monotonic() < deadline, f"fewer than {count} callers waiting"
        await asyncio.sleep(0.1)


def sip_sms(settings: Settings) -> Settings:
    """``settings`` with SMS over the carrier's SIP trunk."""
    return dataclasses.replace(settings, sms=dataclasses.replace(settings.sms, provider="sip"))


def top_via(message: str) -> str:
    """The first Via header of a SIP message: the last hop that sent it."""
    return next(line for line in message.splitlines() if line.startswith("Via:"))


async def until_bound(port: int, within: float = 10) -> None:
    """Wait until a SIPp has bound UDP ``port``."""
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(udp_bound, port):
        assert time.monotonic() < deadline, f"nothing bound UDP port {port}"
        await asyncio.sleep(0.05)


async def test_sms_and_calls_to_the_carrier_leave_through_the_proxy(
    farm: Farm, redis_server: RedisServer, tmp_path: Path
) -> None:
    """Behind Kamailio, each Asterisk reaches the carrier through it: an SMS as SIP MESSAGE
    from either box, and Dana, a volunteer on her mobile, rung for a caller on either box
    (her INVITEs hold no caller number); the carrier's MESSAGE reaches an app through it."""
    carrier, proxy = farm.carrier_port, farm.proxy.address
    for n, instance in enumerate(farm.boxes):
        log = tmp_path / f"carrier-message-{n}.log"
        received = asyncio.create_task(carrier_receives(carrier, log))
        await until_bound(carrier)
        provider = SipProvider.from_settings(instance.settings)
        try:
            await provider.send(CALLER, instance.settings.sms.from_number, "Bonjour", "")
        finally:
            await provider.close()
        assert await received == 0
        message = log.read_text(errors="replace")
        request = message[message.index("MESSAGE sip:") :]
        assert request.startswith(f"MESSAGE sip:{CALLER}@127.0.0.1:{carrier} SIP/2.0")
        assert proxy in top_via(request)

    a, b = (sip_sms(s) for s in apps(farm, redis_server.url, tmp_path))
    digits = CALLER.lstrip("+")[-10:]
    async with (
        shared_store(a) as store,
        app_process(a, STRAIGHT, tmp_path / "a"),
        app_process(b, STRAIGHT, tmp_path / "b"),
    ):
        await sign_in(store, a, EXTERNAL)
        dana = asyncio.create_task(
            agent_phone(carrier, tmp_path, key="1", key_ms=600, talk_ms=1000, calls=2)
        )
        await until_bound(carrier)
        for _ in range(2):  # round-robin: one caller on each box
            result = await place_call(farm.boxes[0], via=proxy)
            assert result.ok, result.output[-3000:]
        answered = await dana
        assert answered.returncode == 0, answered.messages[-3000:]

        await until_sms_apps(farm)
        assert await carrier_sends(farm.boxes[0], "Bonjour", via=proxy) == 0
        keys = Keys(a.redis.prefix)
        deadline = time.monotonic() + 10
        while not await store.redis.zcard(keys.conversation_index):
            assert time.monotonic() < deadline, "the carrier's MESSAGE opened no conversation"
            await asyncio.sleep(0.1)
    assert [instance.calls_processed() for instance in farm.boxes] == [1, 1]
    assert [e["agent"] for e in queue_log(a) if e["event"] == "CONNECT"] == [EXTERNAL] * 2
    assert len(answered.invites) == 2
    for invite in answered.invites:
        assert invite.startswith("INVITE sip:+15145550999@"), invite[:200]
        assert proxy in top_via(invite)
        assert digits not in invite


async def until_sms_apps(farm: Farm, within: float = 15) -> None:
    """Wait until every box's app instance listens for SIP MESSAGEs (its ``-sms`` ARI app)."""
    deadline = time.monotonic() + within
    for instance in farm.boxes:
        while f"{instance.settings.ari.app}-sms" not in await asyncio.to_thread(
            instance.rx, "ari show apps"
        ):
            assert time.monotonic() < deadline, "an app instance does not listen for messages"
            await asyncio.sleep(0.1)


async def test_a_callback_dials_the_caller_through_the_proxy(
    farm: Farm, redis_server: RedisServer, tmp_path: Path
) -> None:
    """A caller who asked for a callback on either box is dialled through Kamailio to the
    carrier once Fiona, whose phone registered through the proxy, has answered; neither INVITE
    tells one of them the other's number."""
    a, b, phone_port = await apps_and_phone(farm, redis_server.url, tmp_path)
    async with (
        shared_store(a) as store,
        app_process(a, STRAIGHT, tmp_path / "a"),
        app_process(b, STRAIGHT, tmp_path / "b"),
    ):
        # Nobody is logged in: the caller presses * to be called back, and hangs up.
        asked = await place_call(farm.boxes[0], keys=((1500, "*"),), via=farm.proxy.address)
        assert asked.ok, asked.output[-3000:]
        assert [c.kind.value for c in await store.waiting("general")] == ["callback"]
        caller = asyncio.create_task(agent_phone(farm.carrier_port, tmp_path))
        fiona = asyncio.create_task(agent_phone(phone_port, tmp_path, talk_ms=1500))
        await until_bound(farm.carrier_port)
        await sign_in(store, a, REMOTE_PHONE)
        to_fiona, called_back = await asyncio.gather(fiona, caller)
        assert to_fiona.returncode == 0, to_fiona.messages[-3000:]
        assert called_back.returncode == 0, called_back.messages[-3000:]
        left = await store.waiting("general")
    assert left == ()
    (invite,) = called_back.invites
    assert invite.startswith(f"INVITE sip:{CALLER}@127.0.0.1:{farm.carrier_port} SIP/2.0")
    assert farm.proxy.address in top_via(invite)
    from_header = next(line for line in invite.splitlines() if line.startswith("From:"))
    assert a.asterisk.hotline_number in from_header
    (ring,) = to_fiona.invites
    assert CALLER.lstrip("+")[-10:] not in ring
    assert "Callback" in ring


def relayed_to_device(settings: Settings, root: Path) -> Settings:
    """``settings`` with SMS over SIP and Fiona's conversations relayed to her SIP phone."""
    relay = root / "relay.toml"
    relay.parent.mkdir(parents=True, exist_ok=True)
    relay.write_text(f'[agents.{REMOTE_PHONE}]\ndevice = "{REMOTE_PHONE}"\nlanguage = "fr"\n')
    sms = dataclasses.replace(settings.sms, provider="sip", relay_file=str(relay))
    return dataclasses.replace(settings, sms=sms)


async def phone_texts(proxy: str, hotline: str, secret: str, body: str) -> int:
    """Fiona's phone texts ``body`` to the ``hotline`` number through the ``proxy``
    (tests/sipp/phone_message.xml), answering its challenge with her ``secret``."""
    return await sipp(
        "-sf", str(TESTS / "sipp" / "phone_message.xml"), "-m", "1", "-s", hotline,
        "-set", "device", REMOTE_PHONE, "-au", REMOTE_PHONE, "-ap", secret,
        "-set", "body", body, "-p", str(free_port(socket.SOCK_DGRAM)), proxy,
    )  # fmt: skip


async def test_a_texter_and_the_volunteer_phone_registered_through_the_proxy_text_each_other(
    farm: Farm, redis_server: RedisServer, tmp_path: Path
) -> None:
    """A texter's SMS, taken by Fiona whose conversations go to her SIP phone, reaches the
    phone where it registered with Kamailio as a SIP MESSAGE from the hotline number, under the
    texter's pseudonym, with nothing of the texter's number in it; her phone's answer,
    authenticated by the proxy, reaches the texter through the carrier from the hotline."""
    a, b, phone_port = await apps_and_phone(farm, redis_server.url, tmp_path)
    a, b = relayed_to_device(a, tmp_path), relayed_to_device(b, tmp_path)
    secret = read_secrets(a.phones.secrets_file)[REMOTE_PHONE]
    proxy = farm.proxy.address
    phone_log, carrier_log = tmp_path / "phone-message.log", tmp_path / "carrier-messages.log"
    async with (
        shared_store(a) as store,
        app_process(a, STRAIGHT, tmp_path / "a"),
        app_process(b, STRAIGHT, tmp_path / "b"),
        worker_process(a, tmp_path / "worker.log"),
    ):
        await sign_in(store, a, REMOTE_PHONE)
        await until_sms_apps(farm)
        phone = asyncio.create_task(carrier_receives(phone_port, phone_log))
        # The carrier gets the automatic reply, then Fiona's.
        carrier = asyncio.create_task(carrier_receives(farm.carrier_port, carrier_log, 2))
        await until_bound(phone_port)
        await until_bound(farm.carrier_port)
        assert await carrier_sends(farm.boxes[0], "Bonjour, je suis seule", via=proxy) == 0
        assert await phone == 0
        hotline = a.asterisk.dids[0]
        assert await phone_texts(proxy, hotline, secret, "Je suis là, parlons") == 0
        assert await carrier == 0

        # A wrong secret is challenged again; anyone else naming her device in the header
        # gets no further than a texter.
        assert await phone_texts(proxy, hotline, "not-her-secret", "Faux aussi") != 0
        forged = await sipp(
            "-sf", str(TESTS / "sipp" / "forged_message_in.xml"), "-m", "1",
            "-key", "caller", CALLER, "-set", "device", REMOTE_PHONE, "-set", "body", "Faux",
            "-s", hotline, "-p", str(free_port(socket.SOCK_DGRAM)), proxy,
        )  # fmt: skip
        assert forged == 0
        keys = Keys(a.redis.prefix)
        (conversation,) = await store.redis.zrange(keys.conversation_index, 0, -1)
        texts = keys.conversation_messages(str(conversation))
        deadline = time.monotonic() + 10
        while (await store.redis.llen(texts)) < 3:
            assert time.monotonic() < deadline, "the forged MESSAGE was not taken as a text"
            await asyncio.sleep(0.1)
        authors = [json.loads(m)["author"] for m in await store.redis.lrange(texts, 0, -1)]
    assert authors == ["caller", "agent", "caller"]
    message = phone_log.read_text(errors="replace")
    request = message[message.index("MESSAGE sip:") :]
    assert request.startswith(f"MESSAGE sip:{REMOTE_PHONE}@127.0.0.1:{phone_port}")
    assert proxy in top_via(request)
    from_header = next(line for line in request.splitlines() if line.startswith("From:"))
    assert a.sms.from_number in from_header
    assert re.search(r"\r?\n\r?\n\[[^\]]+\] Bonjour, je suis seule", request)
    assert CALLER.lstrip("+")[-10:] not in message
    received = carrier_log.read_text(errors="replace").split("MESSAGE sip:")[1:]
    assert len(received) == 2
    reply = received[-1].partition("\n-----")[0]  # the request, not the trace's answer
    assert reply.startswith(f"{CALLER}@127.0.0.1:{farm.carrier_port} SIP/2.0")
    assert reply.rstrip().endswith("Je suis là, parlons")
    assert a.sms.from_number in next(
        line for line in reply.splitlines() if line.startswith("From:")
    )
    assert REMOTE_PHONE not in reply
