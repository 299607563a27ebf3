"""The number vault for synchronous code (RQ jobs, the Outbox): the asyncio :class:`Vault` run on
a private event loop in a daemon thread, so it works whether or not the caller's thread runs a
loop of its own. Every call goes through the Vault's public methods; nothing is re-implemented.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from core import redisconn
from core.config import Settings
from core.keys import Keys
from core.privacy import Vault

T = TypeVar("T")

#: Seconds one vault operation may take before the caller gives up.
TIMEOUT = 30.0


class SyncVault:
    """Blocking ``store``, ``reveal`` and ``purge`` on the vault of ``settings``."""

    def __init__(self, settings: Settings) -> None:
        self._redis = redisconn.connect(settings.redis, max_connections=8)
        self.vault = Vault(
            self._redis,
            Keys(settings.redis.prefix),
            hash_key=settings.secrets.hash_key,
            fernet_keys=settings.secrets.vault_keys,
            default_region=settings.privacy.default_region,
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="vault", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the vault's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(TIMEOUT)

    def store(self, number: str, language: str) -> str:
        """The ref of ``number`` (stored, or seen again, now): an ``sms.recipients.StoreNumber``."""
        return self.run(self.vault.store(number, language, now=datetime.now(UTC))).ref

    def reveal(self, ref: str) -> str:
        """The number of ``ref`` for delivery (NotInVault if purged): a ``ResolveNumber``."""
        return self.run(self.vault.reveal_for_delivery(ref))

    def purge(self, older_than: timedelta, now: datetime) -> int:
        """``Vault.purge``: how many entries were removed."""
        return self.run(self.vault.purge(older_than, now))

    def close(self) -> None:
        """Close the Redis client and stop the loop's thread."""
        self.run(self._redis.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(TIMEOUT)
        self._loop.close()
