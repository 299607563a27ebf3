"""The one way the service connects to Redis: a bounded, blocking pool with retries.

Under load, callers wait for a free connection instead of failing ("Too many connections"),
and a dropped connection or a Redis restart is retried with jittered backoff before an error
reaches the call. :func:`connect` builds the asyncio client everything runs on;
:func:`connect_rq` the synchronous one RQ needs (bytes, not strings), with the same policy.
Each process builds them once at startup and passes them in. With ``[redis] sentinels``,
both ask the Sentinels for the primary and follow a failover: a connection to a server that
is gone or was demoted is dropped, and the retry reaches the new primary.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis
import redis.asyncio.sentinel as aiosentinel
import redis.sentinel as sentinel
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff
from redis.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from core.config import RedisSettings

#: Seconds a caller waits for a free connection of the pool.
POOL_TIMEOUT = 10
_RETRIES = 5
#: Seconds to wait for one Sentinel's answer before asking the next.
SENTINEL_TIMEOUT = 0.5
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


def _through_sentinels(settings: RedisSettings) -> dict[str, Any]:
    """What the URL still says when the Sentinels name the server: database, TLS, user."""
    parts: dict[str, Any] = parse_url(settings.url)  # type: ignore[no-untyped-call]
    options = {k: v for k, v in parts.items() if k in ("db", "username", "password")}
    if settings.url.startswith("rediss://"):
        options["ssl"] = True
    return options


class _AsyncSentinelPool(aiosentinel.SentinelConnectionPool, aioredis.BlockingConnectionPool):
    """The Sentinels' primary, with callers waiting for a free connection (as without)."""


class _SentinelPool(sentinel.SentinelConnectionPool, redis.BlockingConnectionPool):
    """The synchronous twin of :class:`_AsyncSentinelPool`."""


class _AsyncSentinelRedis(aioredis.Redis):
    """A client of the Sentinels' primary that also closes its connections to the Sentinels."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        pool = self.connection_pool
        if isinstance(pool, aiosentinel.SentinelConnectionPool):
            for client in pool.sentinel_manager.sentinels:
                await client.aclose()


class _SentinelRedis(redis.Redis):
    """The synchronous twin of :class:`_AsyncSentinelRedis`."""

    def close(self) -> None:
        super().close()
        pool = self.connection_pool
        if isinstance(pool, sentinel.SentinelConnectionPool):
            for client in pool.sentinel_manager.sentinels:
                client.close()


def connect(
    settings: RedisSettings, max_connections: int = 64, *, decode: bool = True
) -> aioredis.Redis:
    """An asyncio Redis client for ``settings.url`` or the Sentinels' primary (strings
    decoded unless ``decode`` is false: aiohttp-session's store reads bytes)."""
    options: dict[str, Any] = {
        **_credentials(settings),
        "max_connections": max_connections,
        "timeout": POOL_TIMEOUT,
        "decode_responses": decode,
        "retry": AsyncRetry(_backoff(), retries=_RETRIES),
        "retry_on_error": _RETRY_ON,
    }
    if settings.sentinels:
        sentinels = aiosentinel.Sentinel(
            settings.sentinel_addresses(), sentinel_kwargs={"socket_timeout": SENTINEL_TIMEOUT}
        )
        client: aioredis.Redis = sentinels.master_for(
            settings.master_name,
            redis_class=_AsyncSentinelRedis,
            connection_pool_class=_AsyncSentinelPool,
            **{**options, **_through_sentinels(settings)},
        )
        return client
    pool = aioredis.BlockingConnectionPool.from_url(settings.url, **options)
    return aioredis.Redis.from_pool(pool)


def connect_rq(settings: RedisSettings, max_connections: int = 8) -> redis.Redis:
    """The synchronous client RQ needs (responses as bytes), for queues and workers."""
    options: dict[str, Any] = {
        **_credentials(settings),
        "max_connections": max_connections,
        "timeout": POOL_TIMEOUT,
        "retry": Retry(_backoff(), retries=_RETRIES),
        "retry_on_error": _RETRY_ON,
    }
    if settings.sentinels:
        sentinels = sentinel.Sentinel(
            settings.sentinel_addresses(), sentinel_kwargs={"socket_timeout": SENTINEL_TIMEOUT}
        )
        client: redis.Redis = sentinels.master_for(
            settings.master_name,
            redis_class=_SentinelRedis,
            connection_pool_class=_SentinelPool,
            **{**options, **_through_sentinels(settings)},
        )
        return client
    return redis.Redis.from_pool(redis.BlockingConnectionPool.from_url(settings.url, **options))
