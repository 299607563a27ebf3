"""``hotline export pledges`` and ``receipts`` on both databases: one CSV row a pledge of the
campaign (from ``--since`` on), with amounts, statuses and provider references and no donor
details; the tax-receipt batch, audited first, in a new file only its owner reads."""

from __future__ import annotations

import asyncio
import csv
import stat
from pathlib import Path
from typing import cast

import pytest
import redis
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncSession

from core.config import RecordsSettings
from core.keys import Keys
from hotline.cli import main
from pledges.campaigns import DEMO_CAMPAIGNS
from pledges.donors import DonorSeal
from pledges.export import COLUMNS
from pledges.rules import DonorDetails, Status
from records.database import connect, upgrade
from tests.integration.test_acd_http import T0
from tests.integration.test_pledges_http import SEAL
from tests.integration.test_pledges_tote import row

AUDIT = Keys("receipts").staff_audit


async def stored(settings: RecordsSettings, seal: DonorSeal = SEAL) -> None:
    engine = connect(settings)
    await upgrade(engine)
    pledges = [
        row(1, 5000, Status.PAID, T0),
        row(2, 2000, Status.PLEDGED, T0 + 86_400),
        row(3, 7000, Status.CANCELLED, T0 + 2 * 86_400),
        # a paid monthly gift cancelled later: its first instalment was received
        row(5, 3000, Status.CANCELLED, T0 + 3 * 86_400, paid=True),
    ]
    pledges[0].provider_ref, pledges[0].receipt = "cs_test_1", True
    pledges[0].donor_sealed = seal.seal(DonorDetails("Ada Lovelace", "12 rue des Lilas"))
    pledges[1].receipt = True  # not paid yet: no receipt
    pledges[3].receipt, pledges[3].frequency, pledges[3].day_of_month = True, "monthly", 5
    pledges[3].donor_sealed = seal.seal(DonorDetails("Mary Somerville", "1 Chelsea Walk"))
    other = row(4, 9000, Status.PAID, T0)
    other.campaign = "another"
    async with AsyncSession(engine) as session, session.begin():
        session.add_all([*pledges, other])
    await engine.dispose()


def config(tmp_path: Path, settings: RecordsSettings) -> Path:
    campaigns = DEMO_CAMPAIGNS.read_text(encoding="utf-8")
    (tmp_path / "campaigns.toml").write_text(
        campaigns.replace('queue = "telethon"', 'queue = "general"'), encoding="utf-8"
    )
    path = tmp_path / "hotline.toml"
    path.write_text(
        f'[records]\nurl = "{settings.url}"\ndata_dir = "{settings.data_dir}"\n'
        '[pledges]\ncampaigns = "campaigns.toml"\n',
        encoding="utf-8",
    )
    return path


def test_pledges_export_as_csv(
    tmp_path: Path, records_settings: RecordsSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(stored(records_settings))
    path = str(config(tmp_path, records_settings))
    assert main(["--config", path, "export", "pledges", "--campaign", "demo-telethon"]) == 0
    out = capsys.readouterr().out
    lines = list(csv.reader(out.splitlines()))
    assert lines[0] == list(COLUMNS)
    assert [(r[0], r[4], r[10], r[11], r[12], r[13]) for r in lines[1:]] == [
        ("p1", "5000", "paid", "yes", "cs_test_1", "2023-11-14T22:13:25+00:00"),
        ("p2", "2000", "pledged", "yes", "", ""),
        ("p3", "7000", "cancelled", "no", "", ""),
        ("p5", "3000", "cancelled", "yes", "", "2023-11-17T22:13:25+00:00"),
    ]
    assert lines[1][2] == "2023-11-14T22:13:20+00:00"
    assert "Ada" not in out
    since = ["--since", "2023-11-15T22:13:20"]
    assert main(["--config", path, "export", "pledges", "--campaign", "demo-telethon", *since]) == 0
    assert [r[0] for r in csv.reader(capsys.readouterr().out.splitlines())][1:] == [
        "p2", "p3", "p5",
    ]  # fmt: skip
    assert main(["--config", path, "export", "pledges", "--campaign", "nope"]) == 2
    assert "no such campaign: nope" in capsys.readouterr().err


def test_a_receipt_batch_is_audited_and_private(
    tmp_path: Path,
    records_settings: RecordsSettings,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = Fernet.generate_key()
    asyncio.run(stored(records_settings, DonorSeal([key])))
    monkeypatch.setenv("HOTLINE_VAULT_KEYS", key.decode())
    monkeypatch.setenv("HOTLINE_REDIS_URL", redis_url)
    monkeypatch.setenv("HOTLINE_REDIS_PREFIX", "receipts")
    path, out = str(config(tmp_path, records_settings)), tmp_path / "receipts.csv"
    command = ["--config", path, "export", "receipts", "--campaign", "demo-telethon"]
    assert main([*command, "--out", str(out)]) == 2
    assert "needs --out FILE and --reason TEXT" in capsys.readouterr().err
    assert main([*command, "--out", str(out), "--reason", "batch 2023-11"]) == 0
    assert "2 receipt(s) written" in capsys.readouterr().out
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    lines = list(csv.reader(out.read_text(encoding="utf-8").splitlines()))
    assert lines[1:] == [
        ["p1", "demo-telethon", "2023-11-14T22:13:25+00:00", "5000", "EUR", "Ada Lovelace",
         "12 rue des Lilas"],
        ["p5", "demo-telethon", "2023-11-17T22:13:25+00:00", "3000", "EUR", "Mary Somerville",
         "1 Chelsea Walk"],
    ]  # fmt: skip
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        [(_, entry)] = cast(list[tuple[str, dict[str, str]]], client.xrange(AUDIT))
    finally:
        client.close()
    assert (entry["action"], entry["target"], entry["role"]) == ("export", "demo-telethon", "admin")
    assert entry["reason"].endswith("batch 2023-11")
    assert main([*command, "--out", str(out), "--reason", "again"]) == 2  # never overwritten
    assert "exists" in capsys.readouterr().err
