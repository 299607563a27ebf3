"""Rendering dialplans/ with ports, numbers and credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError, load_settings
from hotline.dialplans import AsteriskDirs, RenderError, render_dialplans, render_text
from hotline.phones import create_missing_secrets, ha1, load_phones, read_secrets


def test_every_template_renders_without_leftover_placeholders(tmp_path: Path) -> None:
    env = {
        "HOTLINE_ARI_PASSWORD": "s3cret-pw",
        "HOTLINE_ASTERISK_SIP_PORT": "15060",
        "HOTLINE_ASTERISK_DIDS": "+18005550100,+18005550111",
        "HOTLINE_ASTERISK_CARRIER_MATCH": "192.0.2.10,192.0.2.11",
        "HOTLINE_PHONES_SECRETS_FILE": str(tmp_path / "phone-secrets.toml"),
    }
    settings = load_settings(None, env=env)
    create_missing_secrets(settings, env={})
    dirs = AsteriskDirs.private(tmp_path)
    out = render_dialplans(settings, dirs)
    texts = {path.name: path.read_text() for path in out.glob("*.conf")}
    assert "{{" not in "".join(texts.values())
    assert "bind = 127.0.0.1:15060" in texts["pjsip.conf"]
    assert "match = 192.0.2.10\nmatch = 192.0.2.11" in texts["pjsip.conf"]
    assert "password = s3cret-pw" in texts["ari.conf"]
    assert (out / "ari.conf").stat().st_mode & 0o077 == 0
    assert f"astrundir => {tmp_path / 'run'}" in texts["asterisk.conf"]
    for did in ("+18005550111", "18005550111"):
        assert f"exten => {did},1,Goto(hotline-inbound,+18005550111,1)" in texts["extensions.conf"]


def test_unknown_placeholder_is_an_error() -> None:
    with pytest.raises(RenderError, match=r"x.conf: unknown placeholder \{\{nope\}\}"):
        render_text("a = {{nope}}", {}, "x.conf")


def test_every_sip_device_is_an_endpoint_with_only_its_hashed_secret(tmp_path: Path) -> None:
    env = {"HOTLINE_PHONES_SECRETS_FILE": str(tmp_path / "phone-secrets.toml")}
    settings = load_settings(None, env=env)
    create_missing_secrets(settings, env={})
    stored = read_secrets(settings.phones.secrets_file)
    # The demo's SIP devices (the telethon's operators' too), not dana's mobile.
    assert set(stored) == {"alice", "bruno", "chen", "erin", "farid"}
    assert settings.phones.secrets_file.stat().st_mode & 0o077 == 0
    out = render_dialplans(settings, AsteriskDirs.private(tmp_path), contacts={"chen": "sip:c@x"})
    phones = (out / "pjsip_phones.conf").read_text()
    assert (out / "pjsip_phones.conf").stat().st_mode & 0o077 == 0
    assert f"md5_cred = {ha1('alice', 'hotline', stored['alice'])}" in phones
    assert "[alice](phone-template)\naors = alice\nauth = alice\n" in phones
    assert phones.count("contact = ") == 1
    assert "contact = sip:c@x" in phones
    assert not any(secret in phones for secret in stored.values())


def test_a_secret_in_the_environment_wins_and_a_device_without_one_is_an_error(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        None, env={"HOTLINE_PHONES_SECRETS_FILE": str(tmp_path / "phone-secrets.toml")}
    )
    create_missing_secrets(settings, env={})
    env = {"HOTLINE_PHONE_SECRET_BRUNO": "from-the-env"}
    bruno = {p.name: p for p in load_phones(settings, env=env)}["bruno"]
    assert bruno.ha1 == ha1("bruno", "hotline", "from-the-env")
    assert "from-the-env" not in repr(bruno)
    assert bruno.ha1 not in repr(bruno)
    settings.phones.secrets_file.write_text('alice = "a"\n')
    with pytest.raises(ConfigError, match=r"no SIP secret for device\(s\) bruno, chen") as info:
        load_phones(settings, env={})
    assert "HOTLINE_PHONE_SECRET_BRUNO" in str(info.value)


def test_with_tls_phones_get_a_tls_transport_and_must_use_srtp(tmp_path: Path) -> None:
    env = {
        "HOTLINE_PHONES_SECRETS_FILE": str(tmp_path / "phone-secrets.toml"),
        "HOTLINE_PHONES_TLS_PORT": "5061",
        "HOTLINE_PHONES_TLS_CERT": "/etc/hotline/sip.crt",
        "HOTLINE_PHONES_TLS_KEY": "/etc/hotline/sip.key",
    }
    settings = load_settings(None, env=env)
    create_missing_secrets(settings, env={})
    out = render_dialplans(settings, AsteriskDirs.private(tmp_path))
    phones = (out / "pjsip_phones.conf").read_text()
    assert "[transport-tls]\ntype = transport\nprotocol = tls\nbind = 127.0.0.1:5061\n" in phones
    assert "cert_file = /etc/hotline/sip.crt\npriv_key_file = /etc/hotline/sip.key\n" in phones
    assert phones.count("media_encryption = sdes\n") == 5  # alice, bruno, chen, erin, farid
    assert "transport = transport-tls" not in phones  # UDP still allowed for phones
    udp_off = load_settings(
        None, env={**env, "HOTLINE_PHONES_UDP": "false", "HOTLINE_PHONES_TLS_BIND": "192.0.2.7"}
    )
    out = render_dialplans(udp_off, AsteriskDirs.private(tmp_path))
    phones = (out / "pjsip_phones.conf").read_text()
    assert phones.count("transport = transport-tls\n") == 5
    assert "bind = 192.0.2.7:5061\n" in phones


def test_udp_off_for_phones_needs_tls() -> None:
    with pytest.raises(ConfigError, match="udp = false needs a TLS transport"):
        load_settings(None, env={"HOTLINE_PHONES_UDP": "false"})


def test_behind_a_sip_proxy_phones_are_reached_through_it_with_their_own_contacts(
    tmp_path: Path,
) -> None:
    env = {
        "HOTLINE_PHONES_SECRETS_FILE": str(tmp_path / "phone-secrets.toml"),
        "HOTLINE_ASTERISK_SIP_PROXY": "192.0.2.5:5060",
    }
    settings = load_settings(None, env=env)
    create_missing_secrets(settings, env={})
    out = render_dialplans(settings, AsteriskDirs.private(tmp_path), contacts={"chen": "sip:c@x"})
    phones = (out / "pjsip_phones.conf").read_text()
    assert "contact = sip:alice@192.0.2.5:5060\n" in phones
    assert "contact = sip:bruno@192.0.2.5:5060\n" in phones
    assert "contact = sip:c@x\n" in phones  # a fixed contact still wins
    assert phones.count("rewrite_contact = no\n") == 5
    # The carrier is reached through the proxy too, at its own contact.
    pjsip = (out / "pjsip.conf").read_text()
    assert pjsip.count("outbound_proxy = sip:192.0.2.5:5060\\;lr\n") == 2  # endpoint and AOR
    carrier = pjsip[pjsip.index("[carrier-template]") : pjsip.index("[carrier](carrier-template)")]
    assert "rewrite_contact = no\n" in carrier


def test_without_a_sip_proxy_the_carrier_is_reached_directly(tmp_path: Path) -> None:
    settings = load_settings(None, env={"HOTLINE_PHONES_SECRETS_FILE": str(tmp_path / "s")})
    create_missing_secrets(settings, env={})
    pjsip = (render_dialplans(settings, AsteriskDirs.private(tmp_path)) / "pjsip.conf").read_text()
    assert "outbound_proxy" not in pjsip
    carrier = pjsip[pjsip.index("[carrier-template]") : pjsip.index("[carrier](carrier-template)")]
    assert "rewrite_contact = yes\n" in carrier
