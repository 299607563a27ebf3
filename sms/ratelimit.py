"""Per-sender rate limit: a token bucket of message segments in Redis, taken by a Lua script.

The bucket may go into debt: a take always succeeds and answers how long the caller must wait
before sending. The wait is a reservation, so messages waiting for the same sender get
successive slots instead of racing for each refill, and the rate holds exactly however many
workers take from the bucket. Redis's own clock (``TIME``) is the only clock involved.
"""

from __future__ import annotations

import redis

# KEYS[1] bucket hash; ARGV: rate (segments/s), burst (segments), cost (segments).
# Returns the wait in microseconds before the caller may send (0: now).
TAKE = """
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]) or burst, tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate / 1000000) - cost
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
local wait = 0
if tokens < 0 then wait = math.ceil(-tokens * 1000000 / rate) end
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
return wait
"""


class TokenBucket:
    """``rate`` segments per second with bursts of up to ``burst`` segments, per bucket key."""

    def __init__(self, client: redis.Redis, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._take = client.register_script(TAKE)

    def take(self, key: str, segments: int) -> float:
        """Reserve ``segments`` from the bucket at ``key``; seconds to wait before sending."""
        micros = self._take(keys=[key], args=[self.rate, self.burst, segments])
        return int(micros) / 1_000_000
