"""Holding a volunteer who asked to call a texter (``core.ports.TexterCalls``): from the
request on they are ON_CALL in the store, so no queue offers them a call, until the call ends
(``acd/lua/texter.lua``; the ARI side releases them, ``acd.stasis``)."""

from __future__ import annotations

from dataclasses import dataclass

from acd.store import AcdStore


@dataclass(frozen=True)
class TexterCalls:
    """Holds volunteers for this app instance (``instance``, its ARI application), which owns
    the call until the instance that rings it claims it."""

    store: AcdStore
    instance: str

    async def hold(self, call_id: str, agent_id: str, now: float) -> None:
        """Take the volunteer out of queue routing (``AcdError`` "not-available" unless they
        are available)."""
        await self.store.hold_for_texter(call_id, agent_id, self.instance, now)

    async def release(self, call_id: str, agent_id: str, now: float) -> None:
        """The call will not be made: the volunteer is available again."""
        await self.store.release_texter_call(call_id, agent_id, now)
