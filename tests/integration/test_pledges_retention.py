"""Retention of pledges on both databases: past ``[records] pledge_details_days`` after its
last change a pledge loses its donor (sealed details, keyed reference, pseudonym, alias,
comment) and keeps what accounting needs; the worker's daily purge does it."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import pytest
import redis
from cryptography.fernet import Fernet
from rq import Queue
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from acd import chat
from core.config import RecordsSettings
from hotline.cli import main
from pledges.models import Pledge
from pledges.retention import forget_donors
from pledges.rules import DonorDetails, Status
from records.database import connect, upgrade
from records.retention import DAY_S
from tests.integration.test_pledges_http import SEAL
from tests.integration.test_pledges_tote import row
from tests.integration.test_retention import worker_settings
from workers.retention import JOB
from workers.sms import SmsRuntime

ACCOUNTING = ("id", "campaign", "amount", "currency", "frequency", "method", "status",
              "provider_ref", "receipt", "created_at", "updated_at")  # fmt: skip


def pledge(number: int, updated_at: float, *, donor: bool = True) -> Pledge:
    """A paid pledge last changed at ``updated_at``, with its donor's details or none."""
    found = row(number, 1000 * number, Status.PAID, updated_at - 600)
    found.updated_at, found.provider_ref, found.receipt = updated_at, f"cs_test_{number}", True
    if donor:
        found.donor_sealed = SEAL.seal(DonorDetails("Ada Lovelace", "12 rue des Lilas"))
        found.keep_details, found.donor_key, found.pseudonym = True, "a1b2c3d4e5f6", "Calm Heron"
        found.on_air, found.alias, found.comment = True, "Ada from Lyon", "for my sister"
    return found


async def store(settings: RecordsSettings, pledges: list[Pledge]) -> None:
    engine = connect(settings)
    try:
        await upgrade(engine)
        async with AsyncSession(engine) as session, session.begin():
            session.add_all(pledges)
    finally:
        await engine.dispose()


async def stored(settings: RecordsSettings) -> dict[str, Pledge]:
    engine = connect(settings)
    try:
        async with AsyncSession(engine) as session:
            return {p.id: p for p in (await session.scalars(select(Pledge))).all()}
    finally:
        await engine.dispose()


async def forget(settings: RecordsSettings, before: float) -> int:
    engine = connect(settings)
    try:
        return await forget_donors(engine, before, batch=2)
    finally:
        await engine.dispose()


def accounting(found: Pledge) -> tuple[object, ...]:
    return tuple(getattr(found, column) for column in ACCOUNTING)


def test_donors_are_forgotten_after_the_last_change_and_amounts_kept(
    records_settings: RecordsSettings,
) -> None:
    cutoff = time.time() - 365 * DAY_S
    rows = [
        pledge(1, cutoff - 10),
        pledge(2, cutoff - 5),
        pledge(3, cutoff - 1),  # three past retention: two batches of 2
        pledge(4, cutoff + 1),  # changed since: kept whole
        pledge(5, cutoff - 10, donor=False),  # nothing to forget
    ]
    before = {p.id: accounting(p) for p in rows}
    asyncio.run(store(records_settings, rows))
    assert asyncio.run(forget(records_settings, cutoff)) == 3
    after = asyncio.run(stored(records_settings))
    assert {key: accounting(found) for key, found in after.items()} == before
    for key in ("p1", "p2", "p3", "p5"):
        found = after[key]
        assert (found.donor_sealed, found.keep_details, found.donor_key, found.pseudonym,
                found.alias, found.comment) == ("", False, "", "", "", ""), key  # fmt: skip
    kept = after["p4"]
    assert SEAL.open(kept.donor_sealed) == DonorDetails("Ada Lovelace", "12 rue des Lilas")
    assert (kept.donor_key, kept.alias, kept.comment) == ("a1b2c3d4e5f6", "Ada from Lyon",
                                                          "for my sister")  # fmt: skip
    assert asyncio.run(forget(records_settings, cutoff)) == 0  # nothing left to forget


def test_the_daily_purge_forgets_donors_past_retention(
    redis_url: str, records_settings: RecordsSettings
) -> None:
    records = dataclasses.replace(records_settings, pledge_details_days=30)
    settings = worker_settings(redis_url, records)
    now = time.time()
    asyncio.run(store(records, [pledge(1, now - 31 * DAY_S), pledge(2, now - 29 * DAY_S)]))
    raw = redis.Redis.from_url(redis_url)
    Queue(settings.sms.rq_queue, connection=raw).enqueue(JOB)
    runtime = SmsRuntime(settings, drop_chat=chat.drop, forget_donors=forget_donors)
    try:
        runtime.worker().work(burst=True)
    finally:
        runtime.close()
        raw.close()
    after = asyncio.run(stored(records))
    assert (after["p1"].donor_sealed, after["p1"].comment) == ("", "")
    assert (after["p1"].amount, after["p1"].status) == (1000, "paid")
    assert SEAL.open(after["p2"].donor_sealed).name == "Ada Lovelace"
    assert after["p2"].comment == "for my sister"


def test_hotline_purge_forgets_donors_past_retention(
    tmp_path: Path,
    redis_url: str,
    records_settings: RecordsSettings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = time.time()
    asyncio.run(store(records_settings, [pledge(1, now - 8 * DAY_S), pledge(2, now - 6 * DAY_S)]))
    path = tmp_path / "hotline.toml"
    path.write_text(
        f'[records]\nurl = "{records_settings.url}"\ndata_dir = "{records_settings.data_dir}"\n'
        "pledge_details_days = 7\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("HOTLINE_HASH_KEY", "purge-hash-key-0123456789")
    monkeypatch.setenv("HOTLINE_VAULT_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("HOTLINE_REDIS_URL", redis_url)
    assert main(["--config", str(path), "purge"]) == 0
    assert "pledges whose donor was forgotten: 1" in capsys.readouterr().out
    after = asyncio.run(stored(records_settings))
    assert (after["p1"].donor_sealed, after["p2"].alias) == ("", "Ada from Lyon")
