"""Sign-in limits and CSRF tokens.

Failed sign-ins are counted per account and per address in fixed windows in Redis (every app
instance sees the same counts); past either limit, sign-in is refused until the window ends.
Every form carries the session's CSRF token, compared in constant time.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

import redis.asyncio as aioredis
from aiohttp_session import Session

from core.keys import Keys

CSRF_FIELD = "csrf"


@dataclass(frozen=True)
class AttemptLimits:
    """Failed sign-ins allowed per account and per address within ``window_s`` seconds."""

    per_account: int
    per_address: int
    window_s: int


class SignInGuard:
    """Counts failed sign-ins in Redis."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, limits: AttemptLimits) -> None:
        self.redis, self.keys, self.limits = redis, keys, limits

    def _keys(self, account_id: str, address: str) -> list[tuple[str, int]]:
        """The counters that apply and their limits (an account's only if one is named)."""
        keys = [(self.keys.console_failures("address", address), self.limits.per_address)]
        if account_id:
            keys.append(
                (self.keys.console_failures("account", account_id), self.limits.per_account)
            )
        return keys

    async def blocked(self, account_id: str, address: str) -> bool:
        """Whether the address, or the account if not "", has used up its failed attempts."""
        counted = self._keys(account_id, address)
        counts = await self.redis.mget([key for key, _ in counted])
        return any(int(n or 0) >= limit for n, (_, limit) in zip(counts, counted, strict=True))

    async def failed(self, account_id: str, address: str) -> None:
        """Count one failed sign-in against the address and the account (if not "")."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for key, _ in self._keys(account_id, address):
                pipe.incr(key)
                pipe.expire(key, self.limits.window_s, nx=True)
            await pipe.execute()


def csrf_token(session: Session) -> str:
    """The session's CSRF token, made on first use."""
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def csrf_ok(session: Session, presented: str) -> bool:
    """Whether ``presented`` is the session's CSRF token."""
    token = session.get(CSRF_FIELD)
    return isinstance(token, str) and hmac.compare_digest(token.encode(), presented.encode())
