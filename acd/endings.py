"""How a connected call ends (pure; see ``acd.calls``): the other side is hung up, the bridge
torn down, and the store records the end once, so the volunteer wraps up and is free again."""

from __future__ import annotations

from dataclasses import replace

from acd.calls import Command, Complete, DestroyBridge, EndNailedCall, EndTexterCall, Log, On, Save
from acd.calls import bridge_id as bridge_of
from acd.model import Party
from acd.records import Caller, CallerPhase, Leg, LegPhase, Nail, RecordKind, Write, delete, update
from core.commands import Hangup


def ended(leg: Leg) -> Write:
    """The write that marks a leg ended (its other fields stay as another task wrote them)."""
    return update(replace(leg, phase=LegPhase.ENDED), "phase")


def ended_by_id(channel: str, caller: Caller, agent_id: str) -> Write:
    """``ended`` for a leg known only by its id."""
    leg = Leg(channel, caller.offer_id, agent_id, caller.call_id, caller.queue, external=False)
    return ended(leg)


def end_bridge(
    caller: Caller, agent_id: str, agent_leg: Leg | None, by: Party, along: tuple[Write, ...]
) -> list[Command]:
    """A connected call ended on ``by``'s side: hang up the other, wrap up, route again
    (``along``: writes made with the end's own)."""
    if caller.nailed:
        return [Save(along), EndNailedCall(caller, agent_id, by)]
    out: list[Command] = []
    if caller.transfer_leg:  # an agent still rings to take the call over
        out.append(On(caller.transfer_leg, Hangup()))
    if by is Party.AGENT:
        writes = (*along, update(replace(caller, phase=CallerPhase.LEAVING), "phase"))
        other: tuple[str, ...] = (caller.call_id,)
    elif agent_leg is not None:
        writes, other = (*along, ended(agent_leg)), (agent_leg.leg_id,)
    else:
        writes, other = along, ()
    log = Log(caller.call_id, f"call with agent {agent_id} ended by the {by.value}")
    return [*out, Complete(caller.call_id, agent_id, by, writes, other, caller.bridge), log]


def end_connected(leg: Leg, by: Party) -> list[Command]:
    """End a call the store has connected to ``leg``'s agent whose other side is gone."""
    call_id = leg.call_id
    return [Complete(call_id, leg.agent_id, by, (ended(leg),), (leg.leg_id,), bridge_of(call_id))]


def end_callback(
    leg: Leg, by: Party, agent_leg: Leg | None, callee_leg: Leg | None
) -> list[Command]:
    """A callback ended (either side, or the caller never answered): both legs end, and a
    queued callback is recorded as completed (one a volunteer asked for is not queued)."""
    out: list[Command] = []
    for record in (agent_leg, callee_leg):
        if record is not None and record.phase is not LegPhase.ENDED:
            out += [Save((ended(record),)), On(record.leg_id, Hangup())]
    out += [
        DestroyBridge(leg.call_id, bridge_of(leg.call_id)),
        Save((delete(RecordKind.CALLBACK, leg.call_id),)),
    ]
    if leg.direct:
        log = Log(leg.call_id, f"call requested by agent {leg.agent_id} ended")
        return [*out, log, EndTexterCall(leg.call_id, leg.agent_id)]
    return [*out, Complete(leg.call_id, leg.agent_id, by)]


def end_nailed_call(caller: Caller, agent_id: str, by: Party, nail: Nail | None) -> list[Command]:
    """The nailed-up agent stays connected; the caller leaves (hung up if the agent left)."""
    out: list[Command] = []
    if by is Party.AGENT:
        leaving = replace(caller, phase=CallerPhase.LEAVING)
        out += [Save((update(leaving, "phase"),)), On(caller.call_id, Hangup())]
    if nail is not None and nail.call_id == caller.call_id:
        out.append(Save((update(replace(nail, call_id=""), "call_id"),)))
    log = Log(caller.call_id, f"call with nailed-up agent {agent_id} ended")
    return [*out, Complete(caller.call_id, agent_id, by), log]
