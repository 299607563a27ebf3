"""Donors' names, addresses and e-mails sealed with the deployment's Fernet keys (those of the
number vault, ``HOTLINE_VAULT_KEYS``, newest first): what the pledges table keeps is one token.

When a key is added, ``reseal_pledges`` re-encrypts every token with the newest key (as
``Vault.rotate`` does the numbers), after which the old key may be dropped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from cryptography.fernet import Fernet, MultiFernet
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from pledges.models import Pledge
from pledges.rules import DonorDetails

#: Pledges one transaction re-seals.
BATCH = 500


class DonorSeal:
    """Seals and opens donor details; the first key encrypts, all decrypt."""

    def __init__(self, fernet_keys: Sequence[bytes]) -> None:
        if not fernet_keys:
            raise ValueError("sealing donor details needs at least one Fernet key")
        self._fernet = MultiFernet([Fernet(key) for key in fernet_keys])

    def seal(self, donor: DonorDetails) -> str:
        """A token of ``donor``, or "" when it holds nothing."""
        if donor == DonorDetails():
            return ""
        fields = {"name": donor.name, "address": donor.address, "email": donor.email}
        return self._fernet.encrypt(json.dumps(fields).encode()).decode()

    def open(self, token: str) -> DonorDetails:
        """The details a token holds ("" holds none); InvalidToken for a foreign token."""
        if not token:
            return DonorDetails()
        fields = json.loads(self._fernet.decrypt(token.encode()))
        return DonorDetails(fields["name"], fields["address"], fields["email"])

    def reseal(self, token: str) -> str:
        """The same details sealed with the newest key; InvalidToken for a foreign token."""
        return self._fernet.rotate(token.encode()).decode()


async def reseal_pledges(engine: AsyncEngine, seal: DonorSeal, batch: int = BATCH) -> int:
    """Re-seal every pledge's donor details with the newest key, ``batch`` pledges a
    transaction; how many were re-sealed. A pledge whose details change meanwhile (the
    operator corrects the form) keeps its new token, already sealed with the newest key."""
    resealed, after = 0, ""
    while True:
        query = (
            select(Pledge.id, Pledge.donor_sealed)
            .where(Pledge.id > after, Pledge.donor_sealed != "")
            .order_by(Pledge.id)
            .limit(batch)
        )
        async with engine.begin() as conn:
            rows = (await conn.execute(query)).all()
            for pledge_id, token in rows:
                result = await conn.execute(
                    update(Pledge)
                    .where(Pledge.id == pledge_id, Pledge.donor_sealed == token)
                    .values(donor_sealed=seal.reseal(token))
                )
                resealed += result.rowcount
        if len(rows) < batch:
            return resealed
        after = rows[-1][0]
