"""Every stored copy of a message body, purged past retention: the inbound messages kept per
sender (a list whose expiry each new text renews), the bodies of outbound message records (a
relay carries the caller's text), and the old messages of conversations still active (their
expiry too is renewed by each message). Redis TTLs alone would keep all of these past the
retention clock."""

from __future__ import annotations

from typing import Final

import redis.asyncio as aioredis

from core import lua
from core.keys import Keys

#: Scripts in ``sms/lua/`` (their keys and arguments are documented there).
_MESSAGES: Final = lua.source("sms", "messages_purge")
_OUTBOUND: Final = lua.source("sms", "outbound_purge")


async def purge_bodies(client: aioredis.Redis, keys: Keys, cutoff: float) -> int:
    """Remove the bodies of messages older than ``cutoff`` (epoch seconds) that the removal of
    whole conversations left; how many. Messages of a conversation keep their places (replies'
    idempotency keys name them by index), with an empty body."""
    messages = client.register_script(_MESSAGES)
    outbound = client.register_script(_OUTBOUND)
    purged = 0
    async for key in client.scan_iter(match=keys.sms_conversation("*"), count=500):
        purged += int(await messages(keys=[key], args=[cutoff, "drop"]))
    active = await client.zrangebyscore(keys.conversation_index, cutoff, "+inf")
    for conversation_id in active:
        key = keys.conversation_messages(str(conversation_id))
        purged += int(await messages(keys=[key], args=[cutoff, "blank"]))
    async for key in client.scan_iter(match=keys.sms_message("*"), count=500):
        purged += int(await outbound(keys=[key], args=[cutoff]))
    return purged
