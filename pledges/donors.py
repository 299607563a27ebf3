"""Donors' names, addresses and e-mails sealed with the deployment's Fernet keys (those of the
number vault, ``HOTLINE_VAULT_KEYS``, newest first): what the pledges table keeps is one token.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from cryptography.fernet import Fernet, MultiFernet

from pledges.rules import DonorDetails


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
