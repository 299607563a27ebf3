"""The Kamailio configuration rendered from dialplans/kamailio: Kamailio itself accepts it, it
holds the phones' HA1 hashes, never their secrets, and only the carrier gets through."""

from __future__ import annotations

import dataclasses
import socket
import stat
from pathlib import Path

import pytest

from core.config import ConfigError, ProxySettings, Settings
from hotline.harness import free_port
from hotline.phones import device_secrets, ha1
from hotline.sip_proxy import PrivateKamailio, check_config, render_proxy


def test_kamailio_accepts_the_rendered_configuration(
    tmp_path: Path, base_settings: Settings
) -> None:
    proxy = ProxySettings("127.0.0.1", 5999, ("127.0.0.2:5071", "127.0.0.3:5072"))
    cfg = render_proxy(dataclasses.replace(base_settings, proxy=proxy), tmp_path)
    check_config(cfg)
    listing = (tmp_path / "dispatcher.list").read_text()
    assert listing.split() == ["1", "sip:127.0.0.2:5071", "1", "sip:127.0.0.3:5072"]
    text = cfg.read_text()
    realm = base_settings.phones.realm
    secrets = device_secrets(base_settings)
    assert secrets
    for name, secret in secrets.items():
        assert f'$sht(ha1=>{name}) = "{ha1(name, realm, secret)}";' in text
        assert secret not in text
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600


def sip_status(source: str, proxy: tuple[str, int], request: str) -> str:
    """The status line of the first response to ``request`` sent over UDP from ``source``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(5)
        port = sock.getsockname()[1]
        sock.sendto(request.format(source=source, port=port).encode(), proxy)
        return sock.recv(4096).decode().split("\r\n", 1)[0]


INVITE = (
    "INVITE sip:18005550100@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP {source}:{port};branch=z9hG4bK-{port}\r\n"
    "From: <sip:15145550123@{source}>;tag={port}\r\nTo: <sip:18005550100@127.0.0.1>\r\n"
    "Call-ID: {port}@{source}\r\nCSeq: 1 INVITE\r\nContact: <sip:c@{source}:{port}>\r\n"
    "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
)


def test_only_the_carrier_reaches_the_asterisks_through_the_proxy(
    tmp_path: Path, base_settings: Settings
) -> None:
    port = free_port()
    proxy = ProxySettings("127.0.0.1", port, ("127.0.0.2:9",), carrier_match=("127.0.0.1",))
    kamailio = PrivateKamailio(tmp_path, dataclasses.replace(base_settings, proxy=proxy)).start()
    try:
        assert sip_status("127.0.0.4", ("127.0.0.1", port), INVITE) == "SIP/2.0 403 Forbidden"
        # The carrier's INVITE is taken on (relayed toward an Asterisk).
        assert sip_status("127.0.0.1", ("127.0.0.1", port), INVITE).startswith("SIP/2.0 100")
    finally:
        kamailio.stop()
    empty = dataclasses.replace(proxy, carrier_match=())
    with pytest.raises(ConfigError, match="carrier_match is empty"):
        render_proxy(dataclasses.replace(base_settings, proxy=empty), tmp_path)
