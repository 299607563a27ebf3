"""The staff audit stream: transfers by staff, forced logouts, exports, supervisors' listen,
whisper and barge and their reading of text conversations, written first to Redis
(``Keys.staff_audit``) and kept in SQL by the records drain, append-only. Unmasks have their
own stream, the vault's (``Keys.audit``)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, cast

import redis.asyncio as aioredis

from core.keys import Keys


class AuditAction(Enum):
    """What a member of staff did."""

    TRANSFER = "transfer"
    FORCED_LOGOUT = "forced-logout"
    #: A supervisor paused an agent, with a reason.
    FORCED_PAUSE = "forced-pause"
    EXPORT = "export"
    #: A supervisor listened to, whispered into or barged into a live call.
    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"
    #: A supervisor read a volunteer's text conversation in the console.
    READ_CONVERSATION = "read-conversation"


async def audit(
    redis: aioredis.Redis,
    keys: Keys,
    *,
    actor: str,
    role: str,
    action: AuditAction,
    target: str,
    reason: str,
    now: datetime,
) -> None:
    """Append one staff action (never a number: targets are call, agent or queue ids)."""
    record = {
        "at": now.isoformat(),
        "actor": actor,
        "role": role,
        "action": action.value,
        "target": target,
        "reason": reason,
    }
    await redis.xadd(keys.staff_audit, cast(dict[Any, Any], record))
