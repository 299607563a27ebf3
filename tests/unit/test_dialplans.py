"""Rendering dialplans/ with ports, numbers and credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import load_settings
from hotline.dialplans import AsteriskDirs, RenderError, render_dialplans, render_text


def test_every_template_renders_without_leftover_placeholders(tmp_path: Path) -> None:
    env = {
        "HOTLINE_ARI_PASSWORD": "s3cret-pw",
        "HOTLINE_ASTERISK_SIP_PORT": "15060",
        "HOTLINE_ASTERISK_DIDS": "+18005550100,+18005550111",
        "HOTLINE_ASTERISK_CARRIER_MATCH": "192.0.2.10,192.0.2.11",
    }
    dirs = AsteriskDirs.private(tmp_path)
    out = render_dialplans(load_settings(None, env=env), dirs)
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
