"""The one way the service connects to Redis: a bounded, blocking pool with retries.

Under load, callers wait for a free connection instead of failing ("Too many connections"),
and a dropped connection or a Redis restart is retried with jittered backoff before an error
reaches the call.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.config import RedisSettings


def connect(settings: RedisSettings, max_connections: int = 64) -> aioredis.Redis:
    """An asyncio Redis client for ``settings.url`` (strings decoded)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.url,
        max_connections=max_connections,
        timeout=10,
        decode_responses=True,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries=5),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
    return aioredis.Redis.from_pool(pool)
