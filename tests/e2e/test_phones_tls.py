"""A real softphone (baresip) over TLS: registration, calls both ways with SRTP, and a
plain-RTP offer refused. The tests make their own CA and the server's certificate."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import urllib.parse
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import Settings
from hotline.harness import PrivateAsterisk, free_port
from hotline.phones import read_secrets
from tests.conftest import (
    REMOTE_ADDRESS,
    REMOTE_PHONE,
    banned_addresses,
    wait_for_contact,
)
from tests.e2e.baresip import Softphone
from tests.tls import TlsFiles, make_tls_files

pytestmark = pytest.mark.e2e

#: The carrier's address in this instance: not loopback's 127.0.0.1, which baresip's TLS
#: connections come from (a phone is never identified by its address).
CARRIER_ADDRESS = "127.0.0.2"
ECHO = "[from-phones]\nexten => echo,1,Answer()\nsame => n,Echo()\n"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_asterisk(
    tmp_path_factory: pytest.TempPathFactory, base_settings: Settings, tls_files: TlsFiles
) -> Iterator[PrivateAsterisk]:
    """An Asterisk whose phones use TLS only, with SRTP required."""
    instance = PrivateAsterisk.with_free_ports(
        tmp_path_factory.mktemp("asterisk-tls"), base_settings, rtp_ports=100
    )
    s = instance.settings
    instance.settings = dataclasses.replace(
        s,
        asterisk=dataclasses.replace(s.asterisk, carrier_match=(CARRIER_ADDRESS,)),
        phones=dataclasses.replace(
            s.phones,
            tls_port=free_port(),
            tls_cert=tls_files.cert,
            tls_key=tls_files.key,
            udp=False,
        ),
    )
    try:
        yield instance.start({"extensions_local.conf": ECHO})
    finally:
        instance.stop()


def account(asterisk: PrivateAsterisk, secret: str, params: str) -> str:
    """A baresip account line for the remote volunteer's phone on the TLS transport."""
    port = asterisk.settings.phones.tls_port
    return f"<sip:{REMOTE_PHONE}@127.0.0.1:{port};transport=tls>;auth_pass={secret};{params}"


def ari_get(asterisk: PrivateAsterisk, path: str) -> object:
    """GET an ARI resource of ``asterisk``, decoded."""
    settings = asterisk.settings
    token = b64encode(f"{settings.ari.username}:{settings.secrets.ari_password}".encode())
    request = urllib.request.Request(
        f"{settings.ari.url}/ari/{path}", headers={"Authorization": f"Basic {token.decode()}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def phone_channel_security(asterisk: PrivateAsterisk) -> dict[str, str]:
    """Whether the remote phone's channel has TLS signalling and SRTP media, as Asterisk sees
    it (the CHANNEL function of chan_pjsip)."""
    channels = ari_get(asterisk, "channels")
    assert isinstance(channels, list)
    (channel,) = [c for c in channels if c["name"].startswith(f"PJSIP/{REMOTE_PHONE}-")]
    found = {}
    for item in ("pjsip,secure", "rtp,secure"):
        query = urllib.parse.urlencode({"variable": f"CHANNEL({item})"})
        answer = ari_get(asterisk, f"channels/{channel['id']}/variable?{query}")
        assert isinstance(answer, dict)
        found[item] = answer["value"]
    return found


async def test_softphone_registers_over_tls_and_calls_both_ways_with_srtp(
    tls_asterisk: PrivateAsterisk, tls_files: TlsFiles, tmp_path: Path
) -> None:
    secret = read_secrets(tls_asterisk.settings.phones.secrets_file)[REMOTE_PHONE]
    line = account(tls_asterisk, secret, "mediaenc=srtp-mand;answermode=auto;regint=300")
    async with Softphone(tmp_path / "phone", line, tls_files.ca, REMOTE_ADDRESS) as phone:
        await wait_for_contact(tls_asterisk, REMOTE_PHONE)
        # Asterisk calls the phone (over the phone's TLS connection).
        await asyncio.to_thread(
            tls_asterisk.rx, f"channel originate PJSIP/{REMOTE_PHONE} application Echo"
        )
        await phone.event("CALL_ESTABLISHED")
        secure = await asyncio.to_thread(phone_channel_security, tls_asterisk)
        assert secure == {"pjsip,secure": "1", "rtp,secure": "1"}
        await phone.command("hangup")
        await phone.event("CALL_CLOSED")
        # The phone calls Asterisk.
        port = tls_asterisk.settings.phones.tls_port
        await phone.command("dial", f"sip:echo@127.0.0.1:{port};transport=tls")
        await phone.event("CALL_ESTABLISHED")
        secure = await asyncio.to_thread(phone_channel_security, tls_asterisk)
        assert secure == {"pjsip,secure": "1", "rtp,secure": "1"}
        await phone.command("hangup")
        await phone.event("CALL_CLOSED")


async def test_a_plain_rtp_offer_over_tls_is_refused(
    tls_asterisk: PrivateAsterisk, tls_files: TlsFiles, tmp_path: Path
) -> None:
    secret = read_secrets(tls_asterisk.settings.phones.secrets_file)[REMOTE_PHONE]
    line = account(tls_asterisk, secret, "regint=0")  # no mediaenc: RTP/AVP, no keys
    async with Softphone(tmp_path / "plain", line, tls_files.ca, REMOTE_ADDRESS) as phone:
        port = tls_asterisk.settings.phones.tls_port
        await phone.command("dial", f"sip:echo@127.0.0.1:{port};transport=tls")
        closed = await phone.event("CALL_CLOSED", "CALL_ESTABLISHED")
    assert closed["type"] == "CALL_CLOSED"
    assert closed["param"].startswith("488"), closed


async def test_a_wrong_secret_over_tls_is_logged_for_fail2ban(
    tls_asterisk: PrivateAsterisk, tls_files: TlsFiles, tmp_path: Path
) -> None:
    security_log = tls_asterisk.dirs.log_dir / "security"
    logged_before = security_log.stat().st_size
    secret = read_secrets(tls_asterisk.settings.phones.secrets_file)[REMOTE_PHONE]
    line = account(tls_asterisk, secret[::-1], "mediaenc=srtp-mand;regint=300")
    async with Softphone(tmp_path / "wrong", line, tls_files.ca, REMOTE_ADDRESS):
        deadline = time.monotonic() + 10
        while "ChallengeResponseFailed" not in (new := security_log.read_text()[logged_before:]):
            assert time.monotonic() < deadline, "no failed authentication logged"
            await asyncio.sleep(0.1)
    assert 'RemoteAddress="IPV4/TLS/127.0.0.1/' in new
    # baresip's TLS connections come from 127.0.0.1 whatever address it listens on.
    assert set(banned_addresses(new, tmp_path)) == {"127.0.0.1"}
