"""Hang-up requests: a volunteer ends their connected call from the console. Only the app
instance holding the caller's channel knows the call's bridge, so a request is checked
against the store and sent to that instance's inbox stream (as transfers are); the instance
hangs up the volunteer's leg and the call ends as if they had put the phone down."""

from __future__ import annotations

from collections.abc import Mapping

from acd.model import AcdError
from acd.store import AcdStore
from acd.transfers import parties


async def request_hangup(store: AcdStore, call_id: str, agent_id: str) -> None:
    """Check that ``call_id`` is connected to ``agent_id`` and ask its owner to end it;
    AcdError ``not-your-call`` otherwise (``unknown-call`` if the store has no such call)."""
    found = await parties(store, call_id)
    if found.state != "connected" or found.agent != agent_id:
        raise AcdError("not-your-call", call_id)
    await store.redis.xadd(
        store.keys.acd_inbox(found.owner),
        {"hangup": call_id, "agent": agent_id},
        maxlen=10_000,
        approximate=True,
    )


def hangup_of(fields: Mapping[str, str]) -> tuple[str, str] | None:
    """The call and agent of a hang-up request an inbox entry carries, if it is one."""
    if "hangup" not in fields:
        return None
    return fields["hangup"], fields.get("agent", "")
