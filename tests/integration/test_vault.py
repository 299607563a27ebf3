"""The number vault on a real Redis: idempotent storage, unique pseudonyms under concurrency,
encryption at rest, key rotation, audited unmasking and purging."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
import redis.asyncio as aioredis
from cryptography.fernet import Fernet, InvalidToken

from core.config import RedisSettings
from core.keys import Keys
from core.privacy.pseudonyms import draw, pseudonym
from core.privacy.vault import (
    NotInVault,
    UnmaskRefused,
    Vault,
    VaultCorrupted,
    VaultEntry,
)
from core.redisconn import connect

HASH_KEY = b"test-hash-key-0123456789abcdef"
KEYS = Keys("hl")
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CALLER = "+15145550123"


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"+1514555{i:04d}" for i in range(start, start + count)]


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    redis = connect(RedisSettings(url=redis_url))
    try:
        yield redis
    finally:
        await redis.aclose()


@pytest.fixture
def fernet_key() -> bytes:
    return Fernet.generate_key()


@pytest.fixture
def vault(client: aioredis.Redis, fernet_key: bytes) -> Vault:
    return make_vault(client, fernet_key)


def make_vault(client: aioredis.Redis, *fernet_keys: bytes) -> Vault:
    return Vault(client, KEYS, hash_key=HASH_KEY, fernet_keys=fernet_keys, default_region="CA")


async def reservations(client: aioredis.Redis) -> dict[str, str]:
    """Every pseudonym reservation: key -> ref."""
    keys = [key async for key in client.scan_iter(match=KEYS.pseudonym("*"))]
    values = cast(list[str], await client.mget(keys)) if keys else []
    return dict(zip(keys, values, strict=True))


async def dump(client: aioredis.Redis) -> str:
    """Every key of the database and everything it holds, as text."""
    parts: list[str] = []
    async for found in client.scan_iter():
        key = cast(str, found)
        kind = cast(str, await client.type(key))
        if kind == "string":
            value: object = await client.get(key)
        elif kind == "hash":
            value = await client.hgetall(key)
        elif kind == "zset":
            value = await client.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            value = await client.xrange(key)
        else:
            raise AssertionError(f"unexpected {kind} at {key}")
        parts.append(f"{key} {value!r}")
    return "\n".join(parts)


async def test_store_is_idempotent_across_formats(client: aioredis.Redis, vault: Vault) -> None:
    entry = await vault.store("+1 514 555 0123", "en", now=NOW)
    ref = hmac.new(HASH_KEY, CALLER.encode(), hashlib.sha256).hexdigest()
    assert entry == VaultEntry(ref, pseudonym(bytes.fromhex(ref), "en"), "en")
    size = await client.dbsize()

    later = NOW + timedelta(days=1)
    assert await vault.store("(514) 555-0123", "fr", now=later) == entry
    assert await vault.store("514.555.0123", now=NOW) == entry  # an older contact
    assert await client.dbsize() == size
    assert await vault.find("1-514-555-0123") == entry
    assert await vault.entry(ref) == entry
    assert vault.ref_for("514 555 0123") == ref
    assert await client.hget(KEYS.vault_entry(ref), "last_seen") == later.isoformat()
    assert await client.hget(KEYS.vault_entry(ref), "created") == NOW.isoformat()
    assert await client.zscore(KEYS.vault_index, ref) == later.timestamp()
    assert await vault.reveal_for_delivery(ref) == CALLER


async def test_the_language_of_first_contact_names_the_caller(vault: Vault) -> None:
    entry = await vault.store(CALLER, "fr", now=NOW)
    assert entry.language == "fr"
    assert entry.pseudonym == pseudonym(bytes.fromhex(entry.ref), "fr")


async def test_unknown_callers_and_bad_input(client: aioredis.Redis, vault: Vault) -> None:
    assert await vault.find(CALLER) is None
    assert await vault.entry("0" * 64) is None
    with pytest.raises(NotInVault):
        await vault.reveal_for_delivery("0" * 64)
    with pytest.raises(ValueError, match="'de'"):
        await vault.store(CALLER, "de", now=NOW)
    with pytest.raises(ValueError, match="not a valid phone number"):
        await vault.store("555", now=NOW)
    assert await client.dbsize() == 0


async def test_pseudonyms_are_unique(client: aioredis.Redis, vault: Vault) -> None:
    entries = [await vault.store(number, now=NOW) for number in numbers(300)]
    assert len({e.pseudonym for e in entries}) == 300
    assert len({e.ref for e in entries}) == 300
    assert sorted((await reservations(client)).values()) == sorted(e.ref for e in entries)


async def test_a_taken_pseudonym_moves_to_the_next_attempt(
    client: aioredis.Redis, vault: Vault
) -> None:
    seed = bytes.fromhex(vault.ref_for(CALLER))
    taken = draw(seed, 0)
    await client.set(KEYS.pseudonym(taken.id), "another-caller")
    attempt = next(a for a in range(1, 100) if draw(seed, a) != taken)

    entry = await vault.store(CALLER, "en", now=NOW)
    assert entry.pseudonym == pseudonym(seed, "en", attempt)
    assert entry.pseudonym != taken.name("en")
    assert await client.get(KEYS.pseudonym(taken.id)) == "another-caller"
    assert await client.get(KEYS.pseudonym(draw(seed, attempt).id)) == entry.ref


async def test_concurrent_stores_from_two_instances(redis_url: str, fernet_key: bytes) -> None:
    first, second = connect(RedisSettings(url=redis_url)), connect(RedisSettings(url=redis_url))
    try:
        vaults = (make_vault(first, fernet_key), make_vault(second, fernet_key))
        callers = numbers(200)
        stores = [
            vaults[i % 2].store(n, ("en", "fr")[i % 2], now=NOW) for i, n in enumerate(callers)
        ]
        # The first 20 callers are also stored at the same time by the other instance.
        stores += [vaults[(i + 1) % 2].store(n, now=NOW) for i, n in enumerate(callers[:20])]
        entries = await asyncio.gather(*stores)
        assert len({e.ref for e in entries}) == 200
        assert len({e.pseudonym for e in entries[:200]}) == 200
        assert entries[200:] == entries[:20]
        assert len(await reservations(first)) == 200
        assert await first.zcard(KEYS.vault_index) == 200
    finally:
        await first.aclose()
        await second.aclose()


async def test_numbers_are_encrypted_at_rest(client: aioredis.Redis, vault: Vault) -> None:
    entries = [await vault.store(n, now=NOW) for n in ("+15145550123", "+33612345678")]
    await vault.unmask(entries[0].ref, actor="sam", role="supervisor", reason="police", now=NOW)
    await vault.display(entries[1].ref, mask_numbers=False)
    text = await dump(client)
    assert entries[0].pseudonym in text
    forms = ["+15145550123", "15145550123", "5145550123", "5550123", "555-0123"]
    forms += ["+33612345678", "33612345678", "612345678", "0612345678", "12 34 56 78"]
    assert [form for form in forms if form in text] == []


async def test_key_rotation(client: aioredis.Redis) -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    entries = [await make_vault(client, old).store(n, now=NOW) for n in numbers(5)]
    only_new = make_vault(client, new)
    with pytest.raises(InvalidToken):
        await only_new.reveal_for_delivery(entries[0].ref)

    both = make_vault(client, new, old)
    assert [await both.reveal_for_delivery(e.ref) for e in entries] == numbers(5)
    assert await both.rotate() == 5
    assert [await only_new.reveal_for_delivery(e.ref) for e in entries] == numbers(5)
    with pytest.raises(InvalidToken):
        await make_vault(client, old).reveal_for_delivery(entries[0].ref)
    assert [await only_new.entry(e.ref) for e in entries] == entries


async def test_a_moved_ciphertext_is_detected(client: aioredis.Redis, vault: Vault) -> None:
    a, b = [await vault.store(n, now=NOW) for n in numbers(2)]
    token = await client.hget(KEYS.vault_entry(a.ref), "number")
    await client.hset(KEYS.vault_entry(b.ref), "number", cast(str, token))
    with pytest.raises(VaultCorrupted) as caught:
        await vault.reveal_for_delivery(b.ref)
    assert numbers(2)[0] not in str(caught.value)


@pytest.mark.parametrize(
    ("actor", "role", "reason", "message"),
    [
        ("sam", "volunteer", "imminent risk", "only a supervisor"),
        ("sam", "Supervisor", "imminent risk", "only a supervisor"),
        ("sam", "supervisor", "", "needs a reason"),
        ("sam", "supervisor", "  \t", "needs a reason"),
        (" ", "supervisor", "imminent risk", "needs the actor"),
    ],
)
async def test_unmask_is_refused(
    vault: Vault, actor: str, role: str, reason: str, message: str
) -> None:
    entry = await vault.store(CALLER, now=NOW)
    with pytest.raises(UnmaskRefused, match=message) as caught:
        await vault.unmask(entry.ref, actor=actor, role=role, reason=reason, now=NOW)
    assert isinstance(caught.value, PermissionError)
    assert await vault.audit_log() == []


async def test_unmask_is_audited(vault: Vault) -> None:
    entry = await vault.store(CALLER, now=NOW)
    other = await vault.store("+33612345678", "fr", now=NOW)
    later = NOW + timedelta(minutes=5)
    shown = await vault.unmask(
        entry.ref, actor="sam", role="supervisor", reason=" imminent risk, 911 ", now=NOW
    )
    assert shown == CALLER
    await vault.unmask(other.ref, actor="lee", role="supervisor", reason="callback", now=later)

    newest, oldest = await vault.audit_log()
    assert (oldest.at, oldest.actor, oldest.role, oldest.reason, oldest.ref, oldest.pseudonym) == (
        NOW, "sam", "supervisor", "imminent risk, 911", entry.ref, entry.pseudonym
    )  # fmt: skip
    assert (newest.at, newest.actor, newest.ref, newest.pseudonym) == (
        later, "lee", other.ref, other.pseudonym
    )  # fmt: skip
    assert await vault.audit_log(count=1) == [newest]
    for record in (oldest, newest):
        assert "5145550123" not in repr(record)
        assert "612345678" not in repr(record)
    with pytest.raises(NotInVault):
        await vault.unmask("0" * 64, actor="sam", role="supervisor", reason="x", now=NOW)
    assert len(await vault.audit_log()) == 2


async def test_display_follows_the_masking_policy(vault: Vault) -> None:
    entry = await vault.store(CALLER, now=NOW)
    assert await vault.display(entry.ref, mask_numbers=True) == entry.pseudonym
    assert await vault.display(entry.ref, mask_numbers=False) == f"{entry.pseudonym} ({CALLER})"
    with pytest.raises(NotInVault):
        await vault.display("0" * 64, mask_numbers=True)


async def test_purge_removes_stale_entries_and_their_pseudonyms(
    client: aioredis.Redis, vault: Vault
) -> None:
    stale, fresh, back = numbers(3)
    gone = await vault.store(stale, now=NOW)
    kept = await vault.store(fresh, now=NOW + timedelta(days=80))
    await vault.store(back, now=NOW)
    returned = await vault.store(back, now=NOW + timedelta(days=95))
    slot = cast(str, await client.hget(KEYS.vault_entry(gone.ref), "slot"))
    assert await client.get(slot) == gone.ref

    now = NOW + timedelta(days=100)
    assert await vault.purge(timedelta(days=90), now) == 1
    assert await vault.find(stale) is None
    assert await client.exists(slot, KEYS.vault_entry(gone.ref)) == 0
    assert await vault.entry(kept.ref) == kept
    assert await vault.entry(returned.ref) == returned
    assert sorted((await reservations(client)).values()) == sorted([kept.ref, returned.ref])
    assert await client.zcard(KEYS.vault_index) == 2
    assert await vault.purge(timedelta(days=90), now) == 0

    again = await vault.store(stale, now=now)
    assert again == gone  # its pseudonym was free again
