"""SMS over the carrier's SIP trunk: SIPp as the carrier, the private Asterisk, the app."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from core.ari import AriClient
from core.config import Settings
from core.keys import Keys
from core.privacy import number_token
from hotline.harness import PrivateAsterisk, _die_with_parent, free_port
from ivr.flow import Flow
from sms.provider import ProviderError
from sms.recipients import sender_key
from sms.sip_provider import SipProvider
from tests.conftest import CALLER, EXTERNAL, TESTS, running_app

pytestmark = pytest.mark.e2e

SIPP_SECONDS = 10


@pytest.fixture
def sip_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, sms=dataclasses.replace(settings.sms, provider="sip"))


async def sipp(*args: str) -> int:
    """Run one SIPp on loopback; its exit status."""
    proc = await asyncio.create_subprocess_exec(
        "sipp",
        *args,
        "-i", "127.0.0.1", "-nostdin", "-timeout", f"{SIPP_SECONDS}s", "-timeout_error",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
    )  # fmt: skip
    try:
        return await asyncio.wait_for(proc.wait(), SIPP_SECONDS + 5)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def carrier_sends(
    asterisk: PrivateAsterisk, body: str, sender: str = CALLER, via: str = ""
) -> int:
    """The carrier delivers one SMS from ``sender`` to the hotline (tests/sipp/message_in.xml),
    to ``asterisk`` or through the SIP proxy at ``via`` (``host:port``)."""
    ast = asterisk.settings.asterisk
    return await sipp(
        "-sf", str(TESTS / "sipp" / "message_in.xml"), "-m", "1",
        "-key", "caller", sender, "-set", "body", body, "-s", ast.dids[0],
        "-p", str(free_port(socket.SOCK_DGRAM)), via or f"{ast.sip_bind}:{ast.sip_port}",
    )  # fmt: skip


async def carrier_receives(port: int, log: Path, count: int = 1) -> int:
    """The carrier takes ``count`` MESSAGEs on ``port`` (tests/sipp/message_out.xml), traced to
    ``log``."""
    return await sipp(
        "-sf", str(TESTS / "sipp" / "message_out.xml"), "-m", str(count), "-p", str(port),
        "-trace_msg", "-message_file", str(log),
    )  # fmt: skip


async def carrier_trunk(port: int, log: Path) -> int:
    """The carrier answering OPTIONS pings and MESSAGEs on ``port`` (tests/sipp/carrier_trunk.xml)
    until the SIPp timeout, traced to ``log``."""
    return await sipp(
        "-sf", str(TESTS / "sipp" / "carrier_trunk.xml"), "-p", str(port),
        "-trace_msg", "-message_file", str(log),
    )  # fmt: skip


async def wait_for(check: Callable[[], Awaitable[bool]], what: str, within: float = 5) -> None:
    """Poll ``check`` until it is true; fail with ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def test_inbound_message_reaches_the_conversations_under_a_keyed_hash(
    sip_settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    app_logs: pytest.LogCaptureFixture,
) -> None:
    keys = Keys(sip_settings.redis.prefix)
    sender = sender_key(CALLER, sip_settings.secrets.hash_key)
    body = "Bonjour, j'ai besoin de parler à quelqu'un"
    async with running_app(sip_settings, test_flow) as app:
        assert app.sip_sms is not None
        await asyncio.wait_for(app.sip_sms.subscribed.wait(), 5)
        assert await carrier_sends(asterisk, body) == 0

        async def stored() -> bool:
            return bool(await app.redis.zcard(keys.conversation_index))

        await wait_for(stored, "the message did not open a conversation")
        listed = await app.redis.lrange(keys.sms_conversation(sender), 0, -1)
        inbound = [json.loads(item) for item in listed]
        assert [item["body"] for item in inbound] == [body]
        assert inbound[0]["to"] == sip_settings.asterisk.dids[0]
        assert inbound[0]["sid"].startswith("SIP")

        assert await carrier_sends(asterisk, "STOP") == 0

        async def opted_out() -> bool:
            return bool(await app.redis.sismember(keys.sms_optout, sender))

        await wait_for(opted_out, "STOP did not opt the sender out")
        dump = [str(await app.redis.dump(k)) for k in await app.redis.keys("*")]
    digits = CALLER.lstrip("+")[-10:]
    lines = [r.getMessage() for r in app_logs.records] + [str(r.args) for r in app_logs.records]
    assert not [line for line in lines if digits in line]
    assert not [item for item in dump if digits in item]
    token = number_token(CALLER, sip_settings.secrets.hash_key)
    assert any(f"{token} opted out" in line for line in lines)


async def test_provider_sends_a_message_through_the_trunk(
    sip_settings: Settings, phone_ports: dict[str, int], tmp_path: Path
) -> None:
    log = tmp_path / "carrier.log"
    carrier = asyncio.create_task(carrier_receives(phone_ports[EXTERNAL], log))
    await asyncio.sleep(0.3)  # SIPp binds its port
    provider = SipProvider.from_settings(sip_settings)
    body = "Un bénévole vous répondra bientôt."
    hotline = sip_settings.sms.from_number
    try:
        result = await provider.send(CALLER, hotline, body, "")
    finally:
        await provider.close()
    assert await carrier == 0
    assert result.sid.startswith("SIP")
    assert result.segments == 1
    message = log.read_text(encoding="utf-8")
    request = message[message.index("MESSAGE sip:") :]
    headers, _, content = request.partition("\n\n")
    assert headers.startswith(f"MESSAGE sip:{CALLER}@127.0.0.1:{phone_ports[EXTERNAL]} SIP/2.0")
    assert f"From: <sip:{hotline}@" in headers
    assert f"To: <sip:{CALLER}@" in headers
    assert content.startswith(body)


async def test_provider_errors_say_whether_to_retry_without_the_number(
    sip_settings: Settings,
) -> None:
    ari, password = sip_settings.ari, sip_settings.secrets.ari_password
    client = AriClient(ari.url, ari.username, password)
    unknown = SipProvider(client, "127.0.0.1", endpoint="no-such-trunk")
    down = SipProvider(AriClient(f"http://127.0.0.1:{free_port()}", ari.username, "x"), "")
    try:
        with pytest.raises(ProviderError) as refused:
            await unknown.send(CALLER, "+18005550100", "hi", "")
        refused_as = (refused.value.status, refused.value.retryable, refused.value.reason)
        assert refused_as == (404, False, "no-endpoint")
        with pytest.raises(ProviderError) as unreachable:
            await down.send(CALLER, "+18005550100", "hi", "")
        assert unreachable.value.retryable
        with pytest.raises(ProviderError, match="invalid-number"):
            await unknown.send("+1514;x=y", "+18005550100", "hi", "")
    finally:
        await unknown.close()
        await down.close()
    for exc in (refused.value, unreachable.value):
        assert CALLER.lstrip("+") not in str(exc)


async def test_a_trunk_that_stops_answering_pings_holds_messages_back(
    base_settings: Settings, tmp_path: Path
) -> None:
    port = free_port(socket.SOCK_DGRAM)
    instance = PrivateAsterisk.with_free_ports(tmp_path / "asterisk", base_settings, 10)
    ast = dataclasses.replace(
        instance.settings.asterisk,
        carrier_host=f"127.0.0.1:{port}",
        carrier_match=("127.0.0.1",),
        carrier_qualify_seconds=1,
    )
    instance.settings = dataclasses.replace(instance.settings, asterisk=ast)
    instance.start()
    try:
        settings = dataclasses.replace(
            instance.settings, sms=dataclasses.replace(instance.settings.sms, provider="sip")
        )
        ari = settings.ari
        async with AriClient(ari.url, ari.username, settings.secrets.ari_password) as client:

            async def state_is(wanted: str) -> bool:
                return await client.endpoint_state("PJSIP", "carrier") == wanted

            provider = SipProvider.from_settings(settings)
            hotline = settings.sms.from_number
            await wait_for(lambda: state_is("offline"), "unanswered pings", within=10)
            with pytest.raises(ProviderError) as held:
                await provider.send(CALLER, hotline, "held", "")
            assert (held.value.reason, held.value.retryable) == ("carrier-offline", True)

            log = tmp_path / "carrier.log"
            carrier = asyncio.create_task(carrier_trunk(port, log))
            try:
                await wait_for(lambda: state_is("online"), "answered pings", within=8)
                result = await provider.send(CALLER, hotline, "sent", "")
                assert result.status == "accepted"

                async def received() -> bool:
                    return log.exists() and "MESSAGE sip:" in log.read_text(errors="replace")

                await wait_for(received, "the carrier got no MESSAGE")
            finally:
                carrier.cancel()
                await asyncio.gather(carrier, return_exceptions=True)
                await provider.close()
    finally:
        instance.stop()
