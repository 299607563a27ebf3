"""Re-sealing donor details on a key rotation, on both databases: after ``reseal_pledges``
(and ``hotline rotate-keys``, which also re-encrypts the vault's numbers) the newest key alone
opens every pledge's details and every number, so the old key can be dropped."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.config import RecordsSettings
from core.keys import Keys
from core.privacy.vault import Vault
from hotline.cli import main
from pledges.donors import DonorSeal, reseal_pledges
from pledges.models import Pledge
from pledges.rules import DonorDetails, Status
from records.database import connect, upgrade
from tests.integration.test_acd_http import T0
from tests.integration.test_pledges_export import config
from tests.integration.test_pledges_tote import row

OLD, NEW = Fernet.generate_key(), Fernet.generate_key()
DONORS = {
    "p1": DonorDetails("Ada Lovelace", "12 rue des Lilas"),
    "p3": DonorDetails("Grace Hopper", email="grace@example.org"),
    "p4": DonorDetails("Alan Turing", "1 Bletchley Park"),
    "p5": DonorDetails(email="someone@example.org"),
}
HASH_KEY = "reseal-hash-key-0123456789"
NUMBER = "+15145550188"


async def store_pledges(settings: RecordsSettings) -> None:
    """Six pledges, four with details sealed with the old key, two with none."""
    engine = connect(settings)
    await upgrade(engine)
    rows = [row(n, 1000 * n, Status.PAID, T0 + n) for n in range(1, 7)]
    for pledge in rows:
        if pledge.id in DONORS:
            pledge.donor_sealed = DonorSeal([OLD]).seal(DONORS[pledge.id])
    async with AsyncSession(engine) as session, session.begin():
        session.add_all(rows)
    await engine.dispose()


async def sealed(settings: RecordsSettings) -> dict[str, str]:
    engine = connect(settings)
    try:
        async with AsyncSession(engine) as session:
            found = await session.execute(select(Pledge.id, Pledge.donor_sealed))
            return {pledge_id: token for pledge_id, token in found.all()}
    finally:
        await engine.dispose()


async def reseal(settings: RecordsSettings) -> int:
    engine = connect(settings)
    try:
        return await reseal_pledges(engine, DonorSeal([NEW, OLD]), batch=2)
    finally:
        await engine.dispose()


def test_the_newest_key_alone_opens_every_resealed_pledge(
    records_settings: RecordsSettings,
) -> None:
    asyncio.run(store_pledges(records_settings))
    before = asyncio.run(sealed(records_settings))
    with pytest.raises(InvalidToken):
        DonorSeal([NEW]).open(before["p1"])
    assert asyncio.run(reseal(records_settings)) == 4  # in batches of 2, the last one short
    after = asyncio.run(sealed(records_settings))
    assert after["p2"] == after["p6"] == ""  # nothing sealed: nothing to re-seal
    new_only = DonorSeal([NEW])
    assert {key: new_only.open(after[key]) for key in DONORS} == DONORS
    assert all(after[key] != before[key] for key in DONORS)


async def store_number(redis_url: str, prefix: str) -> str:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        vault = Vault(client, Keys(prefix), hash_key=HASH_KEY.encode(), fernet_keys=[OLD],
                      default_region="CA")  # fmt: skip
        return (await vault.store(NUMBER, "fr", now=datetime.now(UTC))).ref
    finally:
        await client.aclose()


async def reveal(redis_url: str, prefix: str, ref: str) -> str:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        vault = Vault(client, Keys(prefix), hash_key=HASH_KEY.encode(), fernet_keys=[NEW],
                      default_region="CA")  # fmt: skip
        return await vault.reveal_for_delivery(ref)
    finally:
        await client.aclose()


def test_rotate_keys_reencrypts_numbers_and_donor_details(
    tmp_path: Path,
    records_settings: RecordsSettings,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    asyncio.run(store_pledges(records_settings))
    ref = asyncio.run(store_number(redis_url, "rotate"))
    monkeypatch.setenv("HOTLINE_REDIS_URL", redis_url)
    monkeypatch.setenv("HOTLINE_REDIS_PREFIX", "rotate")
    monkeypatch.setenv("HOTLINE_HASH_KEY", HASH_KEY)
    path = str(config(tmp_path, records_settings))
    with pytest.raises(InvalidToken):  # before the rotation the new key alone reads nothing
        asyncio.run(reveal(redis_url, "rotate", ref))
    monkeypatch.setenv("HOTLINE_VAULT_KEYS", f"{NEW.decode()},{OLD.decode()}")
    assert main(["--config", path, "rotate-keys"]) == 0
    out = capsys.readouterr().out
    assert "1 number(s) in the vault, 4 pledge(s)' donor details" in out
    assert NUMBER not in out
    assert asyncio.run(reveal(redis_url, "rotate", ref)) == NUMBER
    after = asyncio.run(sealed(records_settings))
    assert DonorSeal([NEW]).open(after["p4"]) == DONORS["p4"]
