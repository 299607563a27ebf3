"""Transfer requests: move a call to another queue, or hand a connected call to another agent
(a supervisor, say). Only the app instance holding the caller's channel can carry one out, so
a request is checked against the store and sent to that instance's inbox stream; the instance
runs it in order with the caller's other events (``acd.stasis``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

from acd.model import AcdError
from acd.store import AcdStore


class TransferKind(StrEnum):
    """Where a call is transferred to."""

    QUEUE = "queue"  # waits in another queue, keeping its priority and place by time
    AGENT = "agent"  # rung while the first agent stays on; connected when answered


@dataclass(frozen=True)
class Transfer:
    """One transfer request."""

    kind: TransferKind
    target: str

    def encode(self) -> str:
        """As a stream field value."""
        return f"{self.kind.value}:{self.target}"

    @classmethod
    def decode(cls, text: str) -> Transfer:
        """Inverse of ``encode``."""
        kind, _, target = text.partition(":")
        return cls(TransferKind(kind), target)


@dataclass(frozen=True)
class CallParties:
    """Who holds a call: its owner instance, its state and its agent ("" if none)."""

    owner: str
    state: str
    agent: str


async def parties(store: AcdStore, call_id: str) -> CallParties:
    """The call's owner, state and agent; AcdError "unknown-call" if the store has no such
    call (ended, or a callback entry)."""
    fields = cast(
        list[str | None],
        await store.redis.hmget(store.keys.acd_call(call_id), ["owner", "state", "agent"]),
    )
    owner, state, agent = fields
    if not owner or not state:
        raise AcdError("unknown-call", call_id)
    return CallParties(owner, state, agent or "")


async def request_transfer(store: AcdStore, call_id: str, transfer: Transfer) -> None:
    """Check ``transfer`` of ``call_id`` and send it to the instance that owns the call.

    A transfer to an agent needs a connected call; a call being offered (ringing agents) must
    settle first. The store checks again when the owner carries it out."""
    found = await parties(store, call_id)
    if found.state == "offered":
        raise AcdError("call-offered", call_id)
    if transfer.kind is TransferKind.AGENT and found.state != "connected":
        raise AcdError("not-connected", call_id)
    if transfer.kind is TransferKind.QUEUE and transfer.target not in store.queues:
        raise AcdError("unknown-queue", transfer.target)
    await store.redis.xadd(
        store.keys.acd_inbox(found.owner),
        {"transfer": call_id, "to": transfer.encode()},
        maxlen=10_000,
        approximate=True,
    )


def transfer_of(fields: Mapping[str, str]) -> tuple[str, Transfer] | None:
    """The transfer an inbox entry carries, if it is one."""
    if "transfer" not in fields:
        return None
    return fields["transfer"], Transfer.decode(fields["to"])
