"""The number vault: the one place a caller's number is kept, encrypted, behind a keyed hash.

The rest of the service knows a caller by ``ref`` (HMAC-SHA256 of the E.164 number keyed by the
deployment's hash key, in hex) and by a pseudonym. Per ref, Redis holds one hash: ``number``
(Fernet-encrypted; the only Redis value that holds a number), ``pseudonym``, ``slot`` (the key
reserving the pseudonym), ``language``, ``created`` and ``last_seen`` (ISO 8601); an index of
refs by last_seen drives :meth:`Vault.purge`. Keys are named in ``core/keys.py``.

A number leaves the vault by three doors only: :meth:`Vault.reveal_for_delivery` (the SMS and
call delivery layer, never for display), :meth:`Vault.unmask` (a supervisor with a reason,
audited before the number is returned) and :meth:`Vault.display` when the organisation has
turned masking off.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, cast

import redis.asyncio as aioredis
from cryptography.fernet import Fernet, MultiFernet

from core import lua
from core.keys import Keys
from core.privacy.numbers import normalize
from core.privacy.pseudonyms import draw

#: The one role that may unmask a number.
SUPERVISOR = "supervisor"
#: Pseudonym attempts offered to the store script per round trip.
_ATTEMPTS_PER_CALL = 8
#: Entries per pipeline in rotate and purge.
_BATCH = 500

#: Scripts in ``core/privacy/lua/`` (their keys and arguments are documented there).
_STORE: Final = lua.source("core.privacy", "vault_store")
_SWAP: Final = lua.source("core.privacy", "vault_swap")
_PURGE: Final = lua.source("core.privacy", "vault_purge")


class NotInVault(LookupError):
    """No vault entry has this ref (never stored, or purged)."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"no vault entry for ref {ref}")
        self.ref = ref


class UnmaskRefused(PermissionError):
    """An unmask request lacks the supervisor role, an actor or a reason; nothing was shown."""


class VaultCorrupted(RuntimeError):
    """An entry's number does not hash to its ref: the stored value was moved or altered."""


@dataclass(frozen=True)
class VaultEntry:
    """A caller as the service knows them: no number."""

    ref: str
    pseudonym: str
    language: str


@dataclass(frozen=True)
class AuditRecord:
    """One number shown to a person: who, when, why, whose (never the number)."""

    id: str
    at: datetime
    actor: str
    role: str
    reason: str
    ref: str
    pseudonym: str


class Vault:
    """Callers' numbers encrypted at rest, their keyed-hash refs and unique pseudonyms.

    ``redis`` must decode responses (as ``core.redisconn.connect`` does). ``fernet_keys``
    are newest first: the first encrypts, all decrypt, and :meth:`rotate` re-encrypts with the
    first. Several app instances may share one vault: every write is one atomic script.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        *,
        hash_key: bytes,
        fernet_keys: Sequence[bytes],
        default_region: str,
    ) -> None:
        if len(hash_key) < 16:
            raise ValueError("the vault's hash key needs at least 16 bytes")
        if not fernet_keys:
            raise ValueError("the vault needs at least one Fernet key")
        self._redis = redis
        self._keys = keys
        self._hash_key = hash_key
        self._fernet = MultiFernet([Fernet(key) for key in fernet_keys])
        self._region = default_region
        self._store = redis.register_script(_STORE)
        self._swap = redis.register_script(_SWAP)
        self._purge = redis.register_script(_PURGE)

    def ref_for(self, number: str) -> str:
        """The ref of ``number`` (any format ``normalize`` reads); InvalidNumber otherwise."""
        return self._ref(normalize(number, self._region))

    async def store(self, number: str, language: str = "en", *, now: datetime) -> VaultEntry:
        """Keep ``number`` (idempotent) and return its entry; ``now`` becomes its last_seen.

        The same number always gets the same ref and, while its entry lives, the same pseudonym
        and language: those of its first contact. A new number gets the first pseudonym attempt
        whose slot no other entry holds. InvalidNumber for a number that is not valid,
        ValueError for a language without pseudonym words.
        """
        e164 = normalize(number, self._region)
        ref = self._ref(e164)
        entry_keys = [self._keys.vault_entry(ref), self._keys.vault_index]
        seen: list[str | float] = [language, now.isoformat(), now.timestamp()]
        # A known caller (most calls): found by ref, nothing encrypted or drawn.
        found = await self._store(keys=entry_keys, args=[ref, "", *seen])
        token = "" if found else self._fernet.encrypt(e164.encode()).decode()
        seed, attempt = bytes.fromhex(ref), 0
        while found is None:
            slots = [draw(seed, a) for a in range(attempt, attempt + _ATTEMPTS_PER_CALL)]
            found = await self._store(
                keys=[*entry_keys, *(self._keys.pseudonym(slot.id) for slot in slots)],
                args=[ref, token, *seen, *(slot.name(language) for slot in slots)],
            )
            attempt += _ATTEMPTS_PER_CALL
        pseudonym, stored_language = cast(list[str], found)
        return VaultEntry(ref, pseudonym, stored_language)

    async def find(self, number: str) -> VaultEntry | None:
        """The entry of ``number``, or None if it is not in the vault."""
        return await self.entry(self.ref_for(number))

    async def entry(self, ref: str) -> VaultEntry | None:
        """The entry of ``ref``, or None."""
        pseudonym, language = cast(
            list[str | None],
            await self._redis.hmget(self._keys.vault_entry(ref), ["pseudonym", "language"]),
        )
        if pseudonym is None or language is None:
            return None
        return VaultEntry(ref, pseudonym, language)

    async def reveal_for_delivery(self, ref: str) -> str:
        """The E.164 number of ``ref``, for the SMS and call delivery layer only.

        Never show it, log it or pass it on: a person sees a number only through
        :meth:`unmask` or :meth:`display`. NotInVault if the entry is gone.
        """
        e164, _ = await self._open(ref)
        return e164

    async def unmask(self, ref: str, *, actor: str, role: str, reason: str, now: datetime) -> str:
        """The number of ``ref`` for a supervisor to see; the only display path besides
        :meth:`display` with masking off.

        UnmaskRefused unless ``role`` is ``supervisor`` and ``actor`` and ``reason`` are not
        blank. The audit record (actor, role, reason, ref, pseudonym, ``now``; never the
        number) is appended to the audit stream before the number is returned.
        """
        if role != SUPERVISOR:
            raise UnmaskRefused(f"only a {SUPERVISOR} may unmask a caller's number")
        if not actor.strip():
            raise UnmaskRefused("unmasking a caller's number needs the actor's name")
        if not reason.strip():
            raise UnmaskRefused("unmasking a caller's number needs a reason")
        e164, pseudonym = await self._open(ref)
        record = {
            "at": now.isoformat(),
            "actor": actor.strip(),
            "role": role,
            "reason": reason.strip(),
            "ref": ref,
            "pseudonym": pseudonym,
        }
        await self._redis.xadd(self._keys.audit, cast(dict[Any, Any], record))
        return e164

    async def audit_log(self, count: int = 100) -> list[AuditRecord]:
        """The latest ``count`` audit records, newest first."""
        entries = cast(
            list[tuple[str, dict[str, str]]],
            await self._redis.xrevrange(self._keys.audit, count=count),
        )
        return [
            AuditRecord(
                id=entry_id,
                at=datetime.fromisoformat(fields["at"]),
                actor=fields["actor"],
                role=fields["role"],
                reason=fields["reason"],
                ref=fields["ref"],
                pseudonym=fields["pseudonym"],
            )
            for entry_id, fields in entries
        ]

    async def display(self, ref: str, *, mask_numbers: bool) -> str:
        """How staff see the caller of ``ref``: the pseudonym, or with masking off
        "pseudonym (+15145550123)".

        ``mask_numbers`` is the organisation's policy, ``PrivacySettings.mask_numbers`` from
        configuration, never a per-request choice. NotInVault if the entry is gone.
        """
        if mask_numbers:
            entry = await self.entry(ref)
            if entry is None:
                raise NotInVault(ref)
            return entry.pseudonym
        e164, pseudonym = await self._open(ref)
        return f"{pseudonym} ({e164})"

    async def rotate(self) -> int:
        """Re-encrypt every entry with the newest key; how many were re-encrypted."""
        rotated = 0
        refs = cast(list[str], await self._redis.zrange(self._keys.vault_index, 0, -1))
        for start in range(0, len(refs), _BATCH):
            batch = refs[start : start + _BATCH]
            tokens = await self._fields(batch, "number")
            async with self._redis.pipeline(transaction=False) as pipe:
                for ref, token in zip(batch, tokens, strict=True):
                    if token is not None:
                        new = self._fernet.rotate(token.encode()).decode()
                        await self._swap([self._keys.vault_entry(ref)], [token, new], pipe)
                rotated += sum(await pipe.execute())
        return rotated

    async def purge(self, older_than: timedelta, now: datetime) -> int:
        """Remove the entries last seen before ``now - older_than``, and their pseudonym
        reservations; how many were removed."""
        cutoff = (now - older_than).timestamp()
        purged = 0
        refs = cast(
            list[str],
            await self._redis.zrangebyscore(self._keys.vault_index, "-inf", f"({cutoff}"),
        )
        for start in range(0, len(refs), _BATCH):
            batch = refs[start : start + _BATCH]
            slots = await self._fields(batch, "slot")
            async with self._redis.pipeline(transaction=False) as pipe:
                for ref, slot in zip(batch, slots, strict=True):
                    keys = [self._keys.vault_entry(ref), self._keys.vault_index]
                    await self._purge([*keys, *([slot] if slot else [])], [ref, cutoff], pipe)
                purged += sum(await pipe.execute())
        return purged

    def _ref(self, e164: str) -> str:
        return hmac.new(self._hash_key, e164.encode(), hashlib.sha256).hexdigest()

    async def _open(self, ref: str) -> tuple[str, str]:
        """The decrypted number and the pseudonym of ``ref``."""
        token, pseudonym = cast(
            list[str | None],
            await self._redis.hmget(self._keys.vault_entry(ref), ["number", "pseudonym"]),
        )
        if token is None or pseudonym is None:
            raise NotInVault(ref)
        e164 = self._fernet.decrypt(token.encode()).decode()
        if not hmac.compare_digest(self._ref(e164), ref):
            raise VaultCorrupted(f"vault entry {ref} holds another caller's number")
        return e164, pseudonym

    async def _fields(self, refs: list[str], field: str) -> list[str | None]:
        """Field ``field`` of each of the entries of ``refs``."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for ref in refs:
                pipe.hget(self._keys.vault_entry(ref), field)
            return cast(list[str | None], await pipe.execute())
