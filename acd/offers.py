"""Ringing volunteers (pure; see ``acd.calls``): an offer becomes one masked leg per agent,
showing the hotline's number and "pseudonym (queue)", never the caller's number."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from typing import Any, cast

from acd.calls import (
    Command,
    Log,
    OfferNailed,
    On,
    Originate,
    PopTextCall,
    Reject,
    Save,
    Setup,
    Timer,
    leg_id,
)
from acd.config import Device, DeviceKind
from acd.model import CallKind, MissReason, Offer, OfferedAgent, WaitingCall
from acd.records import Caller, Leg, Write, put, put_callback, update
from core.commands import StartTimer

#: SIP headers asking a phone to answer by itself (the common forms).
AUTO_ANSWER = (
    ("PJSIP_HEADER(add,Call-Info)", "<sip:hotline>;answer-after=0"),
    ("PJSIP_HEADER(add,Alert-Info)", "<http://hotline>;info=alert-autoanswer"),
)
#: Seconds to ring a volunteer who asked to call a texter, and to ring a caller back.
CALL_BACK_RING_S = 30


def endpoint(device: Device) -> str:
    """The dial string of a device: a SIP endpoint, or a number through the carrier."""
    if device.kind is DeviceKind.EXTERNAL:
        return f"PJSIP/{device.address}@carrier"
    return device.address


def caller_id(display: str, number: str) -> str:
    """A masked caller id: a display name and the hotline's number."""
    return f'"{display.replace(chr(34), "")}" <{number}>'


def ring(offer: Offer, caller: Caller | None, setup: Setup) -> list[Command]:
    """Ring every agent of the offer (``caller``: the caller's record, or the callback's);
    an offer whose caller is gone is given back."""
    call = offer.call
    if caller is None or call.kind is CallKind.CHAT:  # gone meanwhile, or a chat (acd.chat)
        return [
            Reject(offer.offer_id, agent.agent_id, call.queue, MissReason.FAILED)
            for agent in offer.agents
        ]
    callback = call.kind is CallKind.CALLBACK
    # The caller's offer is written with the first leg's record, in one round trip.
    along = () if callback else (update(replace(caller, offer_id=offer.offer_id), "offer_id"),)
    label = f"Callback {call.pseudonym}" if callback else call.pseudonym
    shown = caller_id(f"{label} ({call.queue})", setup.hotline_number)
    out: list[Command] = []
    for agent in offer.agents:
        if agent.agent_id in setup.nailed and not callback:
            out += [Save(along), OfferNailed(offer, agent)]
        else:
            out += ring_leg(offer, agent, setup, shown, along, callback=callback)
        along = ()
    return out


def ring_leg(
    offer: Offer,
    agent: OfferedAgent,
    setup: Setup,
    shown: str,
    along: tuple[Write, ...],
    *,
    callback: bool = False,
    handover: bool = False,
) -> list[Command]:
    """Ring one agent (``along``: writes to make with the leg's record; ``handover``: to
    take over a connected call)."""
    external = agent.device.kind is DeviceKind.EXTERNAL
    leg = Leg(
        leg_id(offer.offer_id, agent.agent_id),
        offer.offer_id,
        agent.agent_id,
        offer.call.call_id,
        offer.call.queue,
        external,
        callback=callback,
        offered_at=offer.offered_at,
        handover=handover,
    )
    timeout = setup.queues[offer.call.queue].ring_timeout_s
    variables = AUTO_ANSWER if agent.auto_answer and not external else ()
    ringing = Originate(
        leg.leg_id, endpoint(agent.device), shown, "agent", int(timeout) + 5, variables
    )
    return [Save((*along, put(leg))), On(leg.leg_id, StartTimer(Timer.RONA, timeout)), ringing]


def call_texter(
    callback: Caller, agent_id: str, device: Device, setup: Setup, conversation_id: str = ""
) -> list[Command]:
    """A volunteer asked to call a texter: ring them (their console pops the texter's
    ``conversation_id``, if given); once they answer, the texter is dialled from the hotline
    number (``acd.legs``), with no queue: the store only holds the volunteer, ON_CALL since
    the request, until the call ends (``acd.texter_calls``, ``EndTexterCall``)."""
    call_id = callback.call_id
    leg = Leg(
        leg_id(call_id, agent_id),
        call_id,
        agent_id,
        call_id,
        callback.queue,
        device.kind is DeviceKind.EXTERNAL,
        callback=True,
        direct=True,
    )
    shown = caller_id(f"Call {callback.pseudonym}", setup.hotline_number)
    out: list[Command] = [
        Save((put_callback(callback), put(leg))),
        On(leg.leg_id, StartTimer(Timer.RONA, CALL_BACK_RING_S)),
        Originate(leg.leg_id, endpoint(device), shown, "agent", CALL_BACK_RING_S + 5),
        Log(call_id, f"agent {agent_id} asked to call {callback.pseudonym}"),
    ]
    if conversation_id:
        pop = PopTextCall(
            leg.leg_id,
            call_id,
            agent_id,
            conversation_id,
            callback.language,
            callback.enqueued_at,
        )
        out.append(pop)
    return out


def offer_to_json(offer: Offer) -> str:
    """An offer as JSON for another instance's inbox."""
    call = offer.call
    return json.dumps(
        {
            "offer_id": offer.offer_id,
            "offered_at": offer.offered_at,
            "call": {**asdict(call), "kind": call.kind.value},
            "agents": [
                {
                    "agent_id": a.agent_id,
                    "kind": a.device.kind.value,
                    "address": a.device.address,
                    "auto_answer": a.auto_answer,
                }
                for a in offer.agents
            ],
        }
    )


def offer_from_json(text: str) -> Offer:
    """Inverse of ``offer_to_json``."""
    data: dict[str, Any] = json.loads(text)
    call = cast(dict[str, Any], data["call"])
    agents = tuple(
        OfferedAgent(a["agent_id"], Device(DeviceKind(a["kind"]), a["address"]), a["auto_answer"])
        for a in data["agents"]
    )
    waiting = WaitingCall(**{**call, "kind": CallKind(call["kind"])})
    return Offer(data["offer_id"], waiting, agents, data["offered_at"])
