"""Who may sign in to the console: accounts with a role, and argon2 password checks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

HASHER = PasswordHasher()
#: Checked when the account has no password, so that its answer takes as long as a wrong one's.
_DUMMY_HASH = HASHER.hash("no account has this password")


@dataclass(frozen=True)
class Account:
    """One person who signs in: a volunteer (role ``agent``), a supervisor or an admin, with
    the agent file's password hash ("" until they set one at first login) and the queues a
    supervisor or admin oversees (empty: every queue)."""

    id: str
    name: str
    role: str
    password_hash: str = field(default="", repr=False)
    supervises: frozenset[str] = frozenset()


class Accounts:
    """The accounts by id."""

    def __init__(self, accounts: Iterable[Account]) -> None:
        self._by_id: Mapping[str, Account] = {a.id: a for a in accounts}

    def get(self, account_id: str) -> Account | None:
        """The account, or None."""
        return self._by_id.get(account_id)

    def all(self) -> list[Account]:
        """Every account, by id."""
        return sorted(self._by_id.values(), key=lambda a: a.id)


def password_matches(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches the hash; with no hash, False in about the same time."""
    try:
        HASHER.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return bool(password_hash)
