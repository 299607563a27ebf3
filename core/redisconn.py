"""The one way the service connects to Redis: a bounded, blocking pool with retries.

Under load, callers wait for a free connection instead of failing ("Too many connections"),
and a dropped connection or a Redis restart is retried with jittered backoff before an error
reaches the call. :func:`connect` builds the asyncio client everything runs on;
:func:`connect_rq` the synchronous one RQ needs (bytes, not strings), with the same policy.
Each process builds them once at startup and passes them in.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from core.config import RedisSettings

#: Seconds a caller waits for a free connection of the pool.
POOL_TIMEOUT = 10
_RETRIES = 5
_RETRY_ON = [RedisConnectionError, RedisTimeoutError]


def _backoff() -> ExponentialWithJitterBackoff:
    return ExponentialWithJitterBackoff(base=0.05, cap=1.0)


def _credentials(settings: RedisSettings) -> dict[str, Any]:
    """Pool options for the ACL user, the password and a TLS server's CA (the URL's own
    user and password, when it has them, win)."""
    options: dict[str, Any] = {
        "username": settings.username or None,
        "password": settings.password or None,
    }
    if settings.ca_file and settings.url.startswith("rediss://"):
        options["ssl_ca_certs"] = settings.ca_file
    return options


def connect(
    settings: RedisSettings, max_connections: int = 64, *, decode: bool = True
) -> aioredis.Redis:
    """An asyncio Redis client for ``settings.url`` (strings decoded unless ``decode`` is
    false: aiohttp-session's store reads bytes)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.url,
        **_credentials(settings),
        max_connections=max_connections,
        timeout=POOL_TIMEOUT,
        decode_responses=decode,
        retry=AsyncRetry(_backoff(), retries=_RETRIES),
        retry_on_error=_RETRY_ON,
    )
    return aioredis.Redis.from_pool(pool)


def connect_rq(settings: RedisSettings, max_connections: int = 8) -> redis.Redis:
    """The synchronous client RQ needs (responses as bytes), for queues and workers."""
    pool = redis.BlockingConnectionPool.from_url(
        settings.url,
        **_credentials(settings),
        max_connections=max_connections,
        timeout=POOL_TIMEOUT,
        retry=Retry(_backoff(), retries=_RETRIES),
        retry_on_error=_RETRY_ON,
    )
    return redis.Redis.from_pool(pool)
