"""``hotline phones``: a device's secret created, rotated and shown, also as a QR code."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import segno

from hotline.cli import main
from hotline.phones import read_secrets


@pytest.fixture
def secrets_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "phone-secrets.toml"
    monkeypatch.setenv("HOTLINE_PHONES_SECRETS_FILE", str(path))
    monkeypatch.setenv("HOTLINE_PHONES_PUBLIC_HOST", "sip.example.org")
    monkeypatch.chdir(tmp_path)  # no ./hotline.toml: the defaults and the demo agents
    return path


def test_rotate_creates_then_replaces_the_secret_and_prints_the_account(
    secrets_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["phones", "rotate", "alice"]) == 0
    first = read_secrets(secrets_file)["alice"]
    out = capsys.readouterr().out
    assert f"secret:    {first}" in out
    assert "server:    sip.example.org" in out
    assert "user:      alice" in out
    assert secrets_file.stat().st_mode & 0o077 == 0

    png = tmp_path / "alice.png"
    assert main(["phones", "rotate", "alice", "--qr", str(png)]) == 0
    second = read_secrets(secrets_file)["alice"]
    assert second != first
    assert set(read_secrets(secrets_file)) == {"alice"}
    expected = io.BytesIO()
    uri = f"sip:alice:{second}@sip.example.org:5060;transport=udp"
    segno.make(uri, error="m").save(expected, kind="png", scale=8)
    assert png.read_bytes() == expected.getvalue()

    capsys.readouterr()
    assert main(["phones", "show", "alice"]) == 0
    assert f"secret:    {second}" in capsys.readouterr().out


def test_unknown_device_or_missing_secret_is_refused(
    secrets_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["phones", "rotate", "dana"]) == 2  # dana's device is a mobile number
    assert "no SIP device PJSIP/dana" in capsys.readouterr().err
    assert main(["phones", "show", "bruno"]) == 2
    assert "hotline phones rotate bruno" in capsys.readouterr().err
    assert not secrets_file.exists()


def test_with_tls_the_account_says_tls_and_srtp(
    secrets_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOTLINE_PHONES_TLS_PORT", "5061")
    assert main(["phones", "rotate", "chen"]) == 0
    out = capsys.readouterr().out
    assert "port:      5061\ntransport: TLS\n" in out
    assert "media:     SRTP (SDES) required" in out
