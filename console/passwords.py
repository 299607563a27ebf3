"""Console passwords: the agent file's hash, or the one set at first login with a one-time
token an admin issued (kept in Redis, it wins over the file's).

A token is shown once to the admin who issued it; Redis keeps only its SHA-256, for
``FIRST_LOGIN_S``. Using it sets the password and spends it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from typing import Final

import redis.asyncio as aioredis

from console.accounts import HASHER, Account, Accounts, password_matches
from core.keys import Keys

#: Seconds a first-login token stays valid.
FIRST_LOGIN_S: Final = 72 * 3600
MIN_PASSWORD: Final = 12
MAX_PASSWORD: Final = 128


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Passwords:
    """Checks passwords and sets them through first-login tokens."""

    def __init__(self, accounts: Accounts, redis: aioredis.Redis, keys: Keys) -> None:
        self.accounts, self.redis, self.keys = accounts, redis, keys

    async def _hash_of(self, account: Account) -> str:
        stored = await self.redis.get(self.keys.console_password(account.id))
        return str(stored) if stored else account.password_hash

    async def has_password(self, account: Account) -> bool:
        """Whether the account can sign in (it has a password, from the file or first login)."""
        return bool(await self._hash_of(account))

    async def verify(self, account_id: str, password: str) -> Account | None:
        """The account if ``password`` is its password, else None (in about the same time)."""
        account = self.accounts.get(account_id)
        password_hash = await self._hash_of(account) if account else ""
        # argon2 takes tens of milliseconds of CPU: off the event loop.
        matches = await asyncio.to_thread(password_matches, password_hash, password)
        return account if matches else None

    async def issue_first_login(self, account_id: str) -> str:
        """A new one-time token for the account (replacing any earlier one)."""
        token = secrets.token_urlsafe(18)
        key = self.keys.console_first_login(account_id)
        await self.redis.set(key, _digest(token), ex=FIRST_LOGIN_S)
        return token

    async def first_login(self, account_id: str, token: str, password: str) -> bool:
        """Set the account's password if ``token`` is its unspent token (spending it)."""
        if self.accounts.get(account_id) is None:
            return False
        key = self.keys.console_first_login(account_id)
        expected = await self.redis.get(key)
        if not expected or not hmac.compare_digest(str(expected), _digest(token)):
            return False
        # Only the request that takes the token away sets the password.
        if await self.redis.getdel(key) != expected:
            return False
        password_hash = await asyncio.to_thread(HASHER.hash, password)
        await self.redis.set(self.keys.console_password(account_id), password_hash)
        return True
