"""Who may sign in to the console: accounts with an argon2 password hash and a role."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
#: Checked when the account is unknown, so that its answer takes as long as a wrong password's.
_DUMMY_HASH = _HASHER.hash("no account has this password")


@dataclass(frozen=True)
class Account:
    """One person who signs in: a volunteer (role ``agent``), a supervisor or an admin."""

    id: str
    name: str
    role: str
    password_hash: str = field(repr=False)


class Accounts:
    """The accounts by id; only those with a password hash can sign in."""

    def __init__(self, accounts: Iterable[Account]) -> None:
        self._by_id: Mapping[str, Account] = {a.id: a for a in accounts if a.password_hash}

    def get(self, account_id: str) -> Account | None:
        """The account, or None."""
        return self._by_id.get(account_id)

    def verify(self, account_id: str, password: str) -> Account | None:
        """The account if ``password`` is its password, else None (in about the same time)."""
        account = self._by_id.get(account_id)
        try:
            _HASHER.verify(account.password_hash if account else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        return account
