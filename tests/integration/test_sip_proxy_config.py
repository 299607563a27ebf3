"""The Kamailio configuration rendered from dialplans/kamailio: Kamailio itself accepts it, and
it holds the phones' HA1 hashes, never their secrets."""

from __future__ import annotations

import dataclasses
import stat
from pathlib import Path

from core.config import ProxySettings, Settings
from hotline.phones import device_secrets, ha1
from hotline.sip_proxy import check_config, render_proxy


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
