"""Per-sender rate limit: a token bucket of message segments in Redis, taken by a Lua script.

The bucket may go into debt: a take always succeeds and answers how long the caller must wait
before sending. The wait is a reservation, so messages waiting for the same sender get
successive slots instead of racing for each refill, and the rate holds exactly however many
workers take from the bucket. Redis's own clock (``TIME``) is the only clock involved.
"""

from __future__ import annotations

from typing import Final

import redis.asyncio as aioredis

from core import lua

#: Scripts in ``sms/lua/`` (their keys and arguments are documented there).
TAKE: Final = lua.source("sms", "token_bucket")


class TokenBucket:
    """``rate`` segments per second with bursts of up to ``burst`` segments, per bucket key."""

    def __init__(self, client: aioredis.Redis, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._take = client.register_script(TAKE)

    async def take(self, key: str, segments: int) -> float:
        """Reserve ``segments`` from the bucket at ``key``; seconds to wait before sending."""
        micros = await self._take(keys=[key], args=[self.rate, self.burst, segments])
        return int(micros) / 1_000_000
