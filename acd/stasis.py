"""ARI side of the ACD: waiting callers, agent legs, offers, bridges.

Callers reach ``enter`` from the IVR. The store (``acd.store``) decides atomically who gets
which call; this adapter rings the agent's device with the caller's pseudonym as the only
identity (the number shown is the hotline's), plays the whisper, asks agents on external
numbers to press 1, bridges, and reports every outcome back to the store. Offers for a call
owned by another app instance go to that instance's inbox stream, since only the instance
holding the caller's Stasis session can bridge it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from acd.config import AgentProfile, Device, DeviceKind, OverflowKind, QueueConfig
from acd.model import (
    AcdError,
    CallKind,
    MissReason,
    Offer,
    OfferedAgent,
    Party,
    WaitingCall,
)
from acd.records import (
    Caller,
    CallerPhase,
    Leg,
    LegPhase,
    Nail,
    RecordKind,
    Records,
    Write,
    delete,
    put,
    put_callback,
    update,
)
from acd.routing import announcement, next_announcement
from acd.store import AcdStore
from acd.transfers import Transfer, TransferKind, transfer_of
from core.ari import (
    AriClient,
    AriError,
    ChannelDestroyed,
    ChannelDtmfReceived,
    PlaybackFinished,
    StasisEnd,
    StasisStart,
)
from core.calls import (
    CallEvent,
    ChannelGone,
    ChannelTimers,
    TimerFired,
    ari_request,
    ends_call,
)
from core.config import Settings
from core.keys import Keys
from core.ports import RequestConfirmations, TextConversations
from core.privacy import NotInVault, Vault

logger = logging.getLogger(__name__)

LEG_PREFIX = "agent-"
CALLEE_PREFIX = "callee-"
NAIL_PREFIX = "nail-"


class AcdTimer(StrEnum):
    """Timers of queued callers and agent legs."""

    RONA = "rona"  # ring no answer
    CONFIRM = "confirm"  # an external agent has not pressed 1
    ANNOUNCE = "announce"  # next position announcement
    EXPIRED = "expired"  # the caller left the queue (max wait, or no agent left)
    TRANSFER = "transfer"  # a transfer was requested (``Caller.transfer_to``)


#: ISDN causes of an unanswered leg -> why the agent missed the offer.
MISS_BY_CAUSE = {
    17: MissReason.BUSY,
    18: MissReason.NO_ANSWER,
    19: MissReason.NO_ANSWER,
    21: MissReason.DECLINED,
}


def is_leg(channel_id: str) -> bool:
    """Whether a channel is a leg this adapter originated (to an agent, or a call back)."""
    return channel_id.startswith((LEG_PREFIX, CALLEE_PREFIX, NAIL_PREFIX))


def leg_id(offer_id: str, agent_id: str) -> str:
    """The channel id of the leg ringing ``agent_id`` for ``offer_id``."""
    return f"{LEG_PREFIX}{offer_id}-{agent_id}"


@dataclass
class AcdService:
    """Queues waiting callers and connects them to volunteers."""

    settings: Settings
    queues: Mapping[str, QueueConfig]
    agents: Mapping[str, AgentProfile]
    store: AcdStore
    ari: AriClient
    redis: aioredis.Redis
    timers: ChannelTimers
    vault: Vault
    clock: Callable[[], float] = time.time
    #: The SMS side (None: none): request confirmations and voice-to-text hand-over.
    requests: RequestConfirmations | None = None
    texts: TextConversations | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.records = Records(self.redis, self.keys)

    @property
    def instance(self) -> str:
        return self.settings.ari.app

    @property
    def keys(self) -> Keys:
        return Keys(self.settings.redis.prefix)

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Load the agent file into the store; start the tick and the inbox reader."""
        await self.store.sync_agents(list(self.agents.values()))
        for coro in (self._tick(), self._read_inbox(), self._read_voice_requests()):
            task = asyncio.create_task(coro)
            self._tasks.add(task)

    async def close(self) -> None:
        """Stop the background tasks."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _tick(self) -> None:
        """Expire long waits of our calls, and retry routing (widening, wrap-ups ending)."""
        while True:
            await asyncio.sleep(self.settings.acd.tick_s)
            try:
                now = self.clock()
                for queue in self.queues:
                    for leaving in await self.store.expire(queue, self.instance, now):
                        logger.info("%s left %s: %s", leaving.call_id, queue, leaving.reason.value)
                        # Handled on the caller's own ordered queue, like its other events.
                        self.timers.start(leaving.call_id, AcdTimer.EXPIRED, 0)
                    await self.dispatch(queue)
            except Exception:
                logger.exception("ACD tick failed; retrying")

    async def _read_inbox(self) -> None:
        """Ring offers that another instance claimed for our calls; take transfer requests."""
        inbox, last = self.keys.acd_inbox(self.instance), "$"
        while True:
            try:
                batches = cast(
                    list[tuple[str, list[tuple[str, dict[str, str]]]]],
                    await self.redis.xread({inbox: last}, block=1000, count=100),
                )
                for _, entries in batches or []:
                    for entry_id, fields in entries:
                        last = entry_id
                        if requested := transfer_of(fields):
                            await self._queue_transfer(*requested)
                        else:
                            await self._ring(offer_from_json(fields["offer"]))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("ACD inbox failed; retrying")
                await asyncio.sleep(1)

    async def _read_voice_requests(self) -> None:
        """Carry out volunteers' requests to call a texter (``#call`` by SMS, or the console)."""
        stream, group = self.keys.voice_requests, "ari"
        try:
            await self.redis.xgroup_create(stream, group, id="0", mkstream=True)
        except ResponseError as exc:  # the group exists already
            if "BUSYGROUP" not in str(exc):
                raise
        while True:
            try:
                batches = cast(
                    list[tuple[str, list[tuple[str, dict[str, str]]]]],
                    await self.redis.xreadgroup(
                        group, self.instance, {stream: ">"}, count=10, block=1000
                    ),
                )
                for _, entries in batches or []:
                    for entry_id, fields in entries:
                        await self.call_texter(fields)
                        await self.redis.xack(stream, group, entry_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("voice requests failed; retrying")
                await asyncio.sleep(1)

    async def call_texter(self, request: Mapping[str, str]) -> None:
        """Ring the volunteer who asked; once they answer, dial the texter from the hotline
        number and bridge them. Neither sees the other's number."""
        agent_id, ref = request.get("agent", ""), request.get("caller_ref", "")
        profile = self.agents.get(agent_id)
        if profile is None or not ref:
            logger.warning("voice request %s: no such agent or caller", request.get("request"))
            return
        call_id = f"txt{request.get('request', '')[:12]}"
        callback = Caller(
            call_id,
            request.get("queue", ""),
            request.get("language", "en"),
            request.get("pseudonym", ""),
            self.clock(),
            ref,
        )
        await self.records.save(put_callback(callback))
        device = profile.devices[0]
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
        await self.records.save(put(leg))
        endpoint = device.address
        if leg.external:
            endpoint = f"PJSIP/{endpoint}@carrier"
        display = f"Call {callback.pseudonym}".replace('"', "")
        self.timers.start(leg.leg_id, AcdTimer.RONA, 30)
        try:
            await self.ari.originate(
                endpoint=endpoint,
                app=self.instance,
                app_args="agent",
                channel_id=leg.leg_id,
                caller_id=f'"{display}" <{self.settings.asterisk.hotline_number}>',
                timeout=35,
            )
        except AriError as exc:
            logger.warning("%s cannot ring agent %s: %s", call_id, agent_id, exc.status)
            await self._end_callback(leg, Party.AGENT)
            self.records.forget(leg.leg_id)  # no channel: no event will end it
            return
        logger.info("%s agent %s asked to call %s", call_id, agent_id, callback.pseudonym)

    # --- callers -----------------------------------------------------------------------

    async def enter(
        self, channel_id: str, queue: str, language: str, variables: Mapping[str, str]
    ) -> None:
        """A caller joins ``queue`` (from the IVR, an overflow or a transfer)."""
        now = self.clock()
        pseudonym = variables.get("pseudonym", "Anonymous")
        call = WaitingCall(channel_id, queue, self.instance, pseudonym, language, now)
        caller_ref = variables.get("caller_ref", "")
        caller = Caller(channel_id, queue, language, pseudonym, now, caller_ref)
        try:
            async with self.records.along(put(caller)) as records:  # written first
                result = await self.store.enqueue(call, now, records)
        except AcdError as exc:
            logger.error("%s cannot join %s: %s", channel_id, queue, exc)
            await self._leave(caller, ("vm-goodbye",))
            return
        if not result.accepted:
            logger.info("%s refused by %s (%s)", channel_id, queue, result.reason)
            overflow = self.queues[queue].overflow
            await self._overflow(caller, overflow.kind, overflow.target)
            return
        logger.info("%s waits in %s at position %d", channel_id, queue, result.position)
        await self._announce(caller, result.position, result.ewt_s)
        await self.dispatch(queue, caller)

    async def handle(self, channel_id: str, event: CallEvent) -> None:
        """One event of a queued caller (the IVR hands over every event once queued)."""
        caller = await self.records.caller(channel_id)
        if caller is None:
            return
        if isinstance(event, StasisEnd | ChannelGone):
            await self._caller_gone(caller)
        elif isinstance(event, PlaybackFinished) and event.playback_id == caller.playback:
            await self.records.save(update(replace(caller, playback=""), "playback"))
            if caller.phase is CallerPhase.WAITING:
                await self._music(caller)
            elif caller.phase is CallerPhase.LEAVING:
                await ari_request(channel_id, "hangup", lambda: self.ari.hangup(channel_id))
        elif isinstance(event, TimerFired) and event.timer == AcdTimer.ANNOUNCE:
            if caller.phase is CallerPhase.WAITING:
                position = await self.store.position(channel_id)
                if position:
                    await self._announce(caller, position, None)
        elif isinstance(event, TimerFired) and event.timer == AcdTimer.TRANSFER:
            await self._transfer(caller)
        elif isinstance(event, TimerFired) and event.timer == AcdTimer.EXPIRED:
            overflow = self.queues[caller.queue].overflow
            await self._overflow(caller, overflow.kind, overflow.target)
        elif isinstance(event, ChannelDtmfReceived) and caller.phase is CallerPhase.WAITING:
            if event.digit == self.settings.acd.callback_key:
                await self._callback(caller)
            elif event.digit == self.settings.acd.text_key:
                await self._to_text(caller)

    async def _announce(self, caller: Caller, position: int, ewt_s: float | None) -> None:
        """Tell the caller their place (and estimated wait), then hold music."""
        queue = self.queues[caller.queue]
        what = announcement(queue, position, ewt_s if ewt_s is not None else 0.0)
        media: list[str] = []
        if what.position is not None:
            if what.position <= 1:
                media.append("sound:queue-youarenext")
            else:
                media += [
                    "sound:queue-thereare",
                    f"sound:digits/{min(what.position, 99)}",
                    "sound:queue-callswaiting",
                ]
        if what.wait_s is not None and ewt_s is not None:
            minutes = max(1, round(what.wait_s / 60))
            media += [
                "sound:queue-holdtime",
                f"sound:digits/{min(minutes, 99)}",
                "sound:queue-minutes",
            ]
        now = self.clock()
        due = next_announcement(queue, caller.enqueued_at, now)
        if due is not None:
            self.timers.start(caller.call_id, AcdTimer.ANNOUNCE, due - now)
        if not media:
            await self._music(caller)
            return
        await self._play(caller, media, "announce")

    async def _play(self, caller: Caller, media: list[str], name: str) -> None:
        """Play to a queued caller (music pauses; it resumes when the playback ends)."""
        channel_id = caller.call_id
        pid = f"{channel_id}:{name}-{int(self.clock() * 1000)}"
        await self._stop_playback(caller)
        await self.records.save(update(replace(caller, playback=pid), "playback"))
        await ari_request(channel_id, "stop music", lambda: self.ari.stop_moh(channel_id))
        await ari_request(
            channel_id,
            name,
            lambda: self.ari.play(channel_id, media, playback_id=pid, lang=caller.language),
        )

    async def _stop_playback(self, caller: Caller) -> None:
        if caller.playback:
            pid = caller.playback
            await ari_request(caller.call_id, "stop playback", lambda: self.ari.stop_playback(pid))

    async def _music(self, caller: Caller) -> None:
        moh = self.queues[caller.queue].moh_class
        await ari_request(
            caller.call_id, "hold music", lambda: self.ari.start_moh(caller.call_id, moh)
        )

    async def _callback(self, caller: Caller) -> None:
        """The caller keeps their place as a callback entry and hangs up."""
        if not caller.caller_ref:
            logger.info("%s no callback for a withheld number", caller.call_id)
            return
        try:
            await self.store.to_callback(caller.call_id, self.clock())
        except AcdError as exc:  # already offered: the call goes on
            logger.info("%s callback refused: %s", caller.call_id, exc)
            return
        logger.info("%s chose a callback in %s", caller.call_id, caller.queue)
        await self.records.save(put_callback(caller))
        await self._confirm_by_sms(caller, "callback")
        await self._leave(caller, self.settings.acd.callback_prompt)

    async def _confirm_by_sms(self, caller: Caller, kind: str) -> None:
        """Record the caller's request; its confirmation SMS carries a short reference."""
        if self.requests is None or not caller.caller_ref:
            return
        now = datetime.fromtimestamp(self.clock(), UTC)
        details = {"queue": caller.queue, "call": caller.call_id}
        try:
            request = await self.requests.record_request(
                kind, caller.caller_ref, caller.language, details, now
            )
        except Exception:  # the call goes on; the failure is visible in the logs
            logger.exception("%s %s request not recorded", caller.call_id, kind)
            return
        logger.info("%s %s request %s recorded", caller.call_id, kind, request.reference)

    async def _to_text(self, caller: Caller) -> None:
        """The caller continues by text: a conversation opens with the call's context and
        their time already waited, so they keep their place; the call ends."""
        if self.texts is None or not caller.caller_ref:
            return
        try:
            left = await self.store.abandon(caller.call_id, self.clock())
        except AcdError as exc:  # an agent has just taken the call: it goes on
            logger.info("%s cannot switch to text now: %s", caller.call_id, exc)
            return
        for agent_id in left.released:
            await self._hang_up(leg_id(caller.offer_id, agent_id))
        context = {
            "queue": caller.queue,
            "language": caller.language,
            "waited_s": f"{self.clock() - caller.enqueued_at:.0f}",
            "call": caller.call_id,
        }
        conversation = await self.texts.open_from_call(
            caller.caller_ref, caller.pseudonym, caller.language, caller.enqueued_at, context
        )
        logger.info("%s continues by text in conversation %s", caller.call_id, conversation)
        await self._leave(caller, self.settings.acd.text_prompt)

    async def _overflow(self, caller: Caller, kind: OverflowKind, target: str) -> None:
        if kind is OverflowKind.QUEUE and target in self.queues and target != caller.queue:
            await self._stop_playback(caller)  # its announcement must not hold up a bridge
            variables = {"pseudonym": caller.pseudonym, "caller_ref": caller.caller_ref}
            await self.enter(caller.call_id, target, caller.language, variables)
        elif kind is OverflowKind.CALLBACK and caller.caller_ref:
            await self.records.save(put_callback(caller))
            call = WaitingCall(
                caller.call_id,
                caller.queue,
                self.instance,
                caller.pseudonym,
                caller.language,
                caller.enqueued_at,
                kind=CallKind.CALLBACK,
            )
            try:
                await self.store.enqueue(call, self.clock())
            except AcdError as exc:
                logger.warning("%s callback not recorded: %s", caller.call_id, exc)
            await self._leave(caller, self.settings.acd.callback_prompt)
        else:
            await self._leave(caller, ("queue-thankyou", "vm-goodbye"))

    async def _leave(self, caller: Caller, prompt: tuple[str, ...]) -> None:
        """Play a last message to the caller, then hang up (on PlaybackFinished)."""
        self.timers.cancel(caller.call_id, AcdTimer.ANNOUNCE)
        leaving = replace(caller, phase=CallerPhase.LEAVING)
        await self.records.save(put(leaving))  # whole: a refused caller has no record yet
        await self._play(leaving, [f"sound:{p}" for p in prompt], "leave")

    async def _caller_gone(self, caller: Caller) -> None:
        now = self.clock()
        self.timers.clear(caller.call_id)
        gone = delete(RecordKind.CALLER, caller.call_id)
        if caller.phase is CallerPhase.BRIDGED:
            await self._end_bridge(caller, caller.agent_id, Party.CALLER, gone)
            return
        await self.records.save(gone)
        if caller.phase is CallerPhase.LEAVING:
            return
        try:
            result = await self.store.abandon(caller.call_id, now)
        except AcdError as exc:
            if exc.code == "call-connected":  # an agent accepted just as the caller hung up
                agent = cast(
                    str | None, await self.redis.hget(self.keys.acd_call(caller.call_id), "agent")
                )
                if agent:
                    await self._end_connected(caller.call_id, caller.offer_id, agent)
            return  # otherwise: already a callback entry, or never queued
        logger.info("%s abandoned %s after %.0f s", caller.call_id, caller.queue, result.waited_s)
        for agent_id in result.released:
            await self._hang_up(leg_id(caller.offer_id, agent_id))

    # --- offers and agent legs -------------------------------------------------------

    async def dispatch(self, queue: str, joined: Caller | None = None) -> None:
        """Offer the queue's waiting calls to available agents until one side runs out
        (``joined``: the caller who just joined, already loaded)."""
        while offer := await self.store.claim(queue, self.clock()):
            if offer.call.owner_instance == self.instance:
                await self._ring(offer, joined)
            else:
                await self.redis.xadd(
                    self.keys.acd_inbox(offer.call.owner_instance),
                    {"offer": offer_to_json(offer)},
                    maxlen=10_000,
                    approximate=True,
                )
            if not offer.more:
                return

    async def _ring(self, offer: Offer, joined: Caller | None = None) -> None:
        """Ring every agent of the offer with a masked identity."""
        call = offer.call
        callback = call.kind is CallKind.CALLBACK
        if callback:
            caller = await self.records.callback(call.call_id)
        elif joined is not None and joined.call_id == call.call_id:
            caller = joined
        else:
            caller = await self.records.caller(call.call_id)
        if caller is None or call.kind is CallKind.CHAT:
            # Gone meanwhile (or a chat, which acd.chat routes): give the offer back.
            for agent in offer.agents:
                await self._reject(offer.offer_id, agent.agent_id, call.queue, MissReason.FAILED)
            return
        # The caller's offer is written with the first leg's record, in one round trip.
        along = () if callback else (update(replace(caller, offer_id=offer.offer_id), "offer_id"),)
        queue = self.queues[call.queue]
        label = f"Callback {call.pseudonym}" if callback else call.pseudonym
        display = f"{label} ({call.queue})".replace('"', "")
        caller_id = f'"{display}" <{self.settings.asterisk.hotline_number}>'
        for agent in offer.agents:
            await self._originate(offer, agent, queue, caller_id, callback, along)
            along = ()

    async def _originate(
        self,
        offer: Offer,
        agent: OfferedAgent,
        queue: QueueConfig,
        caller_id: str,
        callback: bool,
        along: tuple[Write, ...],
        handover: bool = False,
    ) -> None:
        """Ring one agent (``along``: writes to make with the leg's record; ``handover``: to
        take over a connected call)."""
        profile = self.agents.get(agent.agent_id)
        if profile and profile.nailed_up and not callback and not handover:
            await self.records.save(*along)
            await self._offer_nailed(offer, agent, queue)
            return
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
        await self.records.save(*along, put(leg))
        endpoint = agent.device.address
        if external:
            endpoint = f"PJSIP/{endpoint}@carrier"
        variables = {}
        if agent.auto_answer and not external:
            variables = {
                "PJSIP_HEADER(add,Call-Info)": "<sip:hotline>;answer-after=0",
                "PJSIP_HEADER(add,Alert-Info)": "<http://hotline>;info=alert-autoanswer",
            }
        self.timers.start(leg.leg_id, AcdTimer.RONA, queue.ring_timeout_s)
        try:
            await self.ari.originate(
                endpoint=endpoint,
                app=self.instance,
                app_args="agent",
                channel_id=leg.leg_id,
                caller_id=caller_id,
                timeout=int(queue.ring_timeout_s) + 5,
                variables=variables,
            )
        except AriError as exc:
            logger.warning("%s cannot ring agent %s: %s", leg.call_id, agent.agent_id, exc)
            self.timers.clear(leg.leg_id)
            await self._miss(leg, MissReason.FAILED)
            self.records.forget(leg.leg_id)  # no channel: no event will end it

    async def handle_leg(self, channel_id: str, event: CallEvent) -> None:
        """One event of an agent leg."""
        try:
            await self._leg_event(channel_id, event)
        finally:
            if ends_call(event):
                self.records.forget(channel_id)

    async def _leg_event(self, channel_id: str, event: CallEvent) -> None:
        if channel_id.startswith(NAIL_PREFIX):
            await self._nail_event(channel_id.removeprefix(NAIL_PREFIX), event)
            return
        leg = await self.records.leg(channel_id)
        if leg is None or leg.phase is LegPhase.ENDED:
            return
        if leg.callee:
            await self._callee_event(leg, event)
            return
        match event:
            case StasisStart():
                self.timers.cancel(channel_id, AcdTimer.RONA)
                media = [f"sound:{s}" for s in self.settings.acd.whisper]
                if not media:  # no whisper: straight to the press-1 check, or talk at once
                    await (self._confirm(leg) if leg.external else self._accept(leg))
                    return
                await self.records.save(update(replace(leg, phase=LegPhase.WHISPER), "phase"))
                caller = await self.records.caller(leg.call_id)
                lang = caller.language if caller else None
                await ari_request(
                    channel_id,
                    "whisper",
                    lambda: self.ari.play(
                        channel_id, media, playback_id=f"{channel_id}:whisper", lang=lang
                    ),
                )
            case PlaybackFinished() if leg.phase is LegPhase.WHISPER:
                await (self._confirm(leg) if leg.external else self._accept(leg))
            case ChannelDtmfReceived(digit="1") if leg.external and leg.phase in (
                LegPhase.WHISPER,
                LegPhase.CONFIRM,
            ):
                self.timers.cancel(channel_id, AcdTimer.CONFIRM)
                await self._accept(leg)
            case ChannelDtmfReceived(digit=digit) if (
                leg.phase is LegPhase.BRIDGED
                and digit == self.settings.acd.supervisor_key
                and not (leg.callback or leg.direct)
            ):
                supervisor = self.queues[leg.queue].supervisor
                if supervisor and supervisor != leg.agent_id:
                    logger.info("%s agent %s asks for %s", leg.call_id, leg.agent_id, supervisor)
                    await self._queue_transfer(
                        leg.call_id, Transfer(TransferKind.AGENT, supervisor)
                    )
            case TimerFired(timer=AcdTimer.RONA) if leg.phase is LegPhase.RINGING:
                logger.info("%s agent %s did not answer", leg.call_id, leg.agent_id)
                await self._miss(leg, MissReason.NO_ANSWER)
            case TimerFired(timer=AcdTimer.CONFIRM) if leg.phase is LegPhase.CONFIRM:
                logger.info("%s agent %s did not press 1", leg.call_id, leg.agent_id)
                await self._miss(leg, MissReason.NO_ANSWER)
            case ChannelDestroyed(cause=cause) if leg.phase is LegPhase.RINGING:
                await self._miss(leg, MISS_BY_CAUSE.get(cause, MissReason.FAILED))
            case StasisEnd() | ChannelDestroyed() | ChannelGone():
                self.timers.clear(channel_id)
                if leg.phase is LegPhase.BRIDGED and leg.callback:
                    await self._end_callback(leg, Party.AGENT)
                elif leg.phase is LegPhase.BRIDGED:
                    caller = await self.records.caller(leg.call_id)
                    ended = update(replace(leg, phase=LegPhase.ENDED), "phase")
                    if caller:
                        await self._end_bridge(caller, leg.agent_id, Party.AGENT, ended)
                    else:
                        await self.records.save(ended)
                else:
                    await self._miss(leg, MissReason.DECLINED)

    async def _confirm(self, leg: Leg) -> None:
        """Ask an agent on an external number to press 1: a voicemail cannot."""
        channel_id = leg.leg_id
        await self.records.save(update(replace(leg, phase=LegPhase.CONFIRM), "phase"))
        media = [f"sound:{s}" for s in self.settings.acd.confirm_prompt]
        self.timers.start(channel_id, AcdTimer.CONFIRM, self.settings.acd.confirm_timeout_s)
        await ari_request(
            channel_id,
            "confirm prompt",
            lambda: self.ari.play(channel_id, media, playback_id=f"{channel_id}:confirm"),
        )

    async def _accept(self, leg: Leg) -> None:
        now = self.clock()
        if leg.callback:
            await self._call_back(leg)
            return
        if leg.handover:
            await self._take_over(leg)
            return
        bridge, call_id = f"bridge-{leg.call_id}", leg.call_id
        # Written by the store only if this agent wins, in the same round trip.
        bridged = [update(replace(leg, phase=LegPhase.BRIDGED), "phase")]
        if waiting := await self.records.caller(call_id):
            joined = replace(waiting, phase=CallerPhase.BRIDGED, agent_id=leg.agent_id)
            bridged.append(update(replace(joined, bridge=bridge), "phase", "agent_id", "bridge"))
        encoded = self.records.encode(*bridged)
        result = await self.store.accept(leg.offer_id, leg.agent_id, now, encoded)
        if not result.won:
            await self._hang_up(leg.leg_id)
            return
        self.records.remember(*bridged)
        caller = await self.records.caller(call_id)
        if caller is None:  # the caller hung up as the agent accepted
            await self._end_connected(leg.call_id, leg.offer_id, leg.agent_id)
            return
        self.timers.cancel(call_id, AcdTimer.ANNOUNCE)
        await self._stop_playback(caller)  # a channel joins a bridge only once it is silent
        await ari_request(call_id, "stop music", lambda: self.ari.stop_moh(call_id))
        await ari_request(call_id, "bridge", lambda: self.ari.create_bridge(bridge))
        # Both at once: Asterisk adds neither if one is gone.
        join = functools.partial(self.ari.add_to_bridge, bridge, call_id, leg.leg_id)
        if not await ari_request(call_id, "join bridge", join):
            # A side hung up meanwhile: end the call for both.
            await self._end_connected(call_id, leg.offer_id, leg.agent_id)
            await self._hang_up(call_id)
            return
        talk_ms = (self.clock() - leg.offered_at) * 1000
        logger.info(
            "%s connected to agent %s in %s (offer to talk %.0f ms)",
            call_id,
            leg.agent_id,
            leg.queue,
            talk_ms,
        )
        for agent_id in result.released:
            await self._hang_up(leg_id(leg.offer_id, agent_id))

    async def _end_connected(self, call_id: str, offer_id: str, agent_id: str) -> None:
        """End a call the store has connected whose caller is gone: the agent wraps up."""
        agent_leg = await self.records.leg(leg_id(offer_id, agent_id))
        if agent_leg:
            await self.records.save(update(replace(agent_leg, phase=LegPhase.ENDED), "phase"))
        await self._hang_up(leg_id(offer_id, agent_id))
        bridge = f"bridge-{call_id}"
        await ari_request(call_id, "destroy bridge", lambda: self.ari.destroy_bridge(bridge))
        try:
            await self.store.complete(call_id, agent_id, self.clock(), Party.CALLER)
        except AcdError as exc:  # the other path got there first
            logger.info("%s already completed: %s", call_id, exc)

    # --- nailed-up agents --------------------------------------------------------------

    async def _offer_nailed(self, offer: Offer, agent: OfferedAgent, queue: QueueConfig) -> None:
        """Connect at once over the agent's standing connection; set it up on first use."""
        nail = await self.records.nail(agent.agent_id)
        if nail and nail.ready and not nail.call_id:
            await self._connect_nailed(offer, nail)
            return
        if nail:  # coming up: this offer waits for it
            await self.records.save(update(replace(nail, pending=offer_to_json(offer)), "pending"))
            return
        channel = f"{NAIL_PREFIX}{agent.agent_id}"
        nail = Nail(
            agent.agent_id, channel, f"nail-bridge-{agent.agent_id}", pending=offer_to_json(offer)
        )
        await self.records.save(put(nail))
        endpoint = agent.device.address
        if agent.device.kind is DeviceKind.EXTERNAL:
            endpoint = f"PJSIP/{endpoint}@carrier"
        self.timers.start(channel, AcdTimer.RONA, queue.ring_timeout_s)
        number = self.settings.asterisk.hotline_number
        try:
            await self.ari.originate(
                endpoint=endpoint,
                app=self.instance,
                app_args="nail",
                channel_id=channel,
                caller_id=f'"Hotline (nailed-up)" <{number}>',
                timeout=int(queue.ring_timeout_s) + 5,
            )
        except AriError as exc:
            logger.warning("agent %s nailed-up connection failed: %s", agent.agent_id, exc)
            await self._nail_lost(nail, MissReason.FAILED)

    async def _nail_event(self, agent_id: str, event: CallEvent) -> None:
        nail = await self.records.nail(agent_id)
        if nail is None:
            return
        match event:
            case StasisStart():
                self.timers.cancel(nail.leg_id, AcdTimer.RONA)
                await ari_request(
                    nail.leg_id, "bridge", lambda: self.ari.create_bridge(nail.bridge)
                )
                await ari_request(
                    nail.leg_id, "join", lambda: self.ari.add_to_bridge(nail.bridge, nail.leg_id)
                )
                await self.records.save(
                    update(replace(nail, ready=True, pending=""), "ready", "pending")
                )
                logger.info("agent %s nailed up", agent_id)
                if nail.pending:
                    await self._connect_nailed(offer_from_json(nail.pending), nail)
            case TimerFired(timer=AcdTimer.RONA):
                await self._nail_lost(nail, MissReason.NO_ANSWER)
            case StasisEnd() | ChannelDestroyed() | ChannelGone():
                await self._nail_lost(nail, MissReason.DECLINED)

    async def _connect_nailed(self, offer: Offer, nail: Nail) -> None:
        """Put the caller into the agent's standing bridge: no ringing, no whisper."""
        call_id = offer.call.call_id
        result = await self.store.accept(offer.offer_id, nail.agent_id, self.clock())
        caller = await self.records.caller(call_id)
        if not result.won or caller is None:
            return
        await self.records.save(update(replace(nail, call_id=call_id), "call_id"))
        bridged = replace(
            caller,
            phase=CallerPhase.BRIDGED,
            agent_id=nail.agent_id,
            bridge=nail.bridge,
            offer_id=offer.offer_id,
            nailed=True,
        )
        await self.records.save(
            update(bridged, "phase", "agent_id", "bridge", "offer_id", "nailed")
        )
        self.timers.cancel(call_id, AcdTimer.ANNOUNCE)
        await self._stop_playback(caller)
        await ari_request(call_id, "stop music", lambda: self.ari.stop_moh(call_id))
        await ari_request(
            call_id, "join bridge", lambda: self.ari.add_to_bridge(nail.bridge, call_id)
        )
        talk_ms = (self.clock() - offer.offered_at) * 1000
        logger.info(
            "%s connected to nailed-up agent %s (offer to talk %.0f ms)",
            call_id,
            nail.agent_id,
            talk_ms,
        )

    async def _nail_lost(self, nail: Nail, reason: MissReason) -> None:
        """The standing connection failed or ended: end its call, give back a waiting offer."""
        self.timers.clear(nail.leg_id)
        await self.records.save(delete(RecordKind.NAIL, nail.agent_id))
        await self._hang_up(nail.leg_id)
        await ari_request(
            nail.leg_id, "destroy bridge", lambda: self.ari.destroy_bridge(nail.bridge)
        )
        if nail.pending:
            offer = offer_from_json(nail.pending)
            await self._reject(offer.offer_id, nail.agent_id, offer.call.queue, reason)
        if nail.call_id:
            caller = await self.records.caller(nail.call_id)
            if caller:
                await self._end_bridge(caller, nail.agent_id, Party.AGENT)
        logger.info("agent %s nailed-up connection ended", nail.agent_id)

    async def _call_back(self, leg: Leg) -> None:
        """The agent took a callback: now dial the caller, from the hotline number."""
        won = True
        if not leg.direct:
            won = (await self.store.accept(leg.offer_id, leg.agent_id, self.clock())).won
        request = await self.records.callback(leg.call_id)
        if not won or request is None:
            await self._hang_up(leg.leg_id)
            return
        bridge = f"bridge-{leg.call_id}"
        await ari_request(leg.leg_id, "bridge", lambda: self.ari.create_bridge(bridge))
        await ari_request(
            leg.leg_id, "join bridge", lambda: self.ari.add_to_bridge(bridge, leg.leg_id)
        )
        await self.records.save(update(replace(leg, phase=LegPhase.BRIDGED), "phase"))
        callee = Leg(
            f"{CALLEE_PREFIX}{leg.call_id}",
            leg.offer_id,
            leg.agent_id,
            leg.call_id,
            leg.queue,
            external=True,
            callback=True,
            callee=True,
            direct=leg.direct,
        )
        await self.records.save(put(callee))
        try:
            number = await self.vault.reveal_for_delivery(request.caller_ref)
        except NotInVault:
            logger.warning("%s callback impossible: caller no longer in the vault", leg.call_id)
            await self._end_callback(callee, Party.CALLER)
            self.records.forget(callee.leg_id)  # never dialled
            return
        self.timers.start(callee.leg_id, AcdTimer.RONA, 30)
        try:
            await self.ari.originate(
                endpoint=f"PJSIP/{number}@carrier",
                app=self.instance,
                app_args="callee",
                channel_id=callee.leg_id,
                caller_id=f'"{self.settings.asterisk.hotline_number}" '
                f"<{self.settings.asterisk.hotline_number}>",
                timeout=35,
            )
        except AriError as exc:
            logger.warning("%s cannot dial the caller back: %s", leg.call_id, exc.status)
            await self._end_callback(callee, Party.CALLER)
            self.records.forget(callee.leg_id)  # no channel: no event will end it
            return
        logger.info("%s agent %s calls %s back", leg.call_id, leg.agent_id, request.pseudonym)

    async def _callee_event(self, leg: Leg, event: CallEvent) -> None:
        """The caller being called back: answered -> bridged; gone -> the callback ends."""
        match event:
            case StasisStart():
                self.timers.cancel(leg.leg_id, AcdTimer.RONA)
                bridge = f"bridge-{leg.call_id}"
                await self.records.save(update(replace(leg, phase=LegPhase.BRIDGED), "phase"))
                await ari_request(
                    leg.leg_id, "join bridge", lambda: self.ari.add_to_bridge(bridge, leg.leg_id)
                )
                logger.info("%s called back and connected to %s", leg.call_id, leg.agent_id)
            case TimerFired(timer=AcdTimer.RONA) | ChannelDestroyed() | StasisEnd() | ChannelGone():
                if leg.phase is LegPhase.RINGING:
                    logger.info("%s the caller did not answer the callback", leg.call_id)
                await self._end_callback(leg, Party.CALLER)

    async def _end_callback(self, leg: Leg, by: Party) -> None:
        """A callback ended (either side, or the caller never answered)."""
        agent_leg = leg_id(leg.offer_id, leg.agent_id)
        callee_leg = f"{CALLEE_PREFIX}{leg.call_id}"
        for channel in (agent_leg, callee_leg):
            record = await self.records.leg(channel)
            if record and record.phase is not LegPhase.ENDED:
                await self.records.save(update(replace(record, phase=LegPhase.ENDED), "phase"))
                await self._hang_up(channel)
        bridge = f"bridge-{leg.call_id}"
        await ari_request(leg.call_id, "destroy bridge", lambda: self.ari.destroy_bridge(bridge))
        await self.records.save(delete(RecordKind.CALLBACK, leg.call_id))
        if leg.direct:
            logger.info("%s call requested by agent %s ended", leg.call_id, leg.agent_id)
            return
        try:
            await self.store.complete(leg.call_id, leg.agent_id, self.clock(), by)
        except AcdError as exc:
            logger.warning("%s callback completion not recorded: %s", leg.call_id, exc)

    async def _miss(self, leg: Leg, reason: MissReason) -> None:
        """The leg will not take the call: hang it up, tell the store, route again."""
        await self.records.save(update(replace(leg, phase=LegPhase.ENDED), "phase"))
        await self._hang_up(leg.leg_id)
        if leg.handover:
            logger.info("%s agent %s did not take the transfer", leg.call_id, leg.agent_id)
            await self.store.handover_release(leg.offer_id, leg.agent_id, self.clock())
            caller = await self.records.caller(leg.call_id)
            if caller and caller.transfer_leg == leg.leg_id:
                await self.records.save(update(replace(caller, transfer_leg=""), "transfer_leg"))
            await self.dispatch(leg.queue)
            return
        if leg.direct:
            logger.info("%s agent %s did not take the requested call", leg.call_id, leg.agent_id)
            await self.records.save(delete(RecordKind.CALLBACK, leg.call_id))
            return
        await self._reject(leg.offer_id, leg.agent_id, leg.queue, reason)

    async def _reject(self, offer_id: str, agent_id: str, queue: str, reason: MissReason) -> None:
        try:
            result = await self.store.reject(offer_id, agent_id, reason, self.clock())
        except AcdError as exc:
            logger.info("offer %s to %s already settled: %s", offer_id, agent_id, exc)
            return
        if result.agent_paused:
            logger.info("agent %s paused after missed offers", agent_id)
        await self.dispatch(queue)

    async def _hang_up(self, channel_id: str) -> None:
        """Hang up a channel that may already be gone."""
        self.timers.clear(channel_id)
        try:
            await self.ari.hangup(channel_id)
        except AriError as exc:
            if exc.status != 404:
                logger.warning("%s hangup failed: %s", channel_id, exc)

    async def _end_bridge(self, caller: Caller, agent_id: str, by: Party, *along: Write) -> None:
        """A connected call ended: hang up the other side, wrap up, route again (``along``:
        record writes to make with the first of this end's)."""
        if caller.nailed:
            await self.records.save(*along)
            await self._end_nailed_call(caller, agent_id, by)
            return
        if caller.transfer_leg:  # an agent still rings to take the call over
            await self._hang_up(caller.transfer_leg)
        if by is Party.AGENT:
            other = caller.call_id
            writes = [*along, update(replace(caller, phase=CallerPhase.LEAVING), "phase")]
        else:
            agent_leg = await self.records.leg(leg_id(caller.offer_id, agent_id))
            other = agent_leg.leg_id if agent_leg else ""
            ended = [update(replace(agent_leg, phase=LegPhase.ENDED), "phase")] if agent_leg else []
            writes = [*along, *ended]
        # This instance sees the writes at once; Redis gets them with the completion.
        async with self.records.along(*writes) as records:
            if other:
                await self._hang_up(other)
            await ari_request(
                caller.call_id, "destroy bridge", lambda: self.ari.destroy_bridge(caller.bridge)
            )
            try:
                await self.store.complete(caller.call_id, agent_id, self.clock(), by, records)
            except AcdError as exc:
                logger.warning("%s completion not recorded: %s", caller.call_id, exc)
        logger.info("%s call with agent %s ended by the %s", caller.call_id, agent_id, by.value)

    async def _end_nailed_call(self, caller: Caller, agent_id: str, by: Party) -> None:
        """The agent stays connected; the caller leaves (or is hung up if the agent left)."""
        if by is Party.AGENT:
            await self.records.save(update(replace(caller, phase=CallerPhase.LEAVING), "phase"))
            await self._hang_up(caller.call_id)
        nail = await self.records.nail(agent_id)
        if nail and nail.call_id == caller.call_id:
            await self.records.save(update(replace(nail, call_id=""), "call_id"))
        try:
            await self.store.complete(caller.call_id, agent_id, self.clock(), by)
        except AcdError as exc:
            logger.warning("%s completion not recorded: %s", caller.call_id, exc)
        logger.info("%s call with nailed-up agent %s ended", caller.call_id, agent_id)

    # --- transfers ---------------------------------------------------------------------

    async def _queue_transfer(self, call_id: str, transfer: Transfer) -> None:
        """Note a requested transfer on the caller, then carry it out on the caller's own
        ordered queue, like its other events."""
        caller = await self.records.caller(call_id)
        if caller is None:
            logger.info("%s is gone: transfer dropped", call_id)
            return
        noted = replace(caller, transfer_to=transfer.encode())
        await self.records.save(update(noted, "transfer_to"))
        self.timers.start(call_id, AcdTimer.TRANSFER, 0)

    async def _transfer(self, caller: Caller) -> None:
        if not caller.transfer_to:
            return
        transfer = Transfer.decode(caller.transfer_to)
        caller = replace(caller, transfer_to="")
        await self.records.save(update(caller, "transfer_to"))
        try:
            if caller.nailed or caller.phase is CallerPhase.LEAVING:
                raise AcdError("cannot-transfer", caller.phase.value)
            if transfer.kind is TransferKind.QUEUE:
                await self._to_queue(caller, transfer.target)
            else:
                await self._ring_handover(caller, transfer.target)
        except AcdError as exc:
            logger.warning("%s transfer to %s refused: %s", caller.call_id, transfer.kind, exc)

    async def _to_queue(self, caller: Caller, queue: str) -> None:
        """Wait in ``queue`` with the same priority and place by time; a connected caller's
        agent is hung up and wraps up, and the caller hears hold music again."""
        position = await self.store.transfer(caller.call_id, queue, self.clock())
        call_id = caller.call_id
        writes: list[Write] = []
        if caller.phase is CallerPhase.BRIDGED:
            agent_leg = await self.records.leg(leg_id(caller.offer_id, caller.agent_id))
            if agent_leg:
                writes.append(update(replace(agent_leg, phase=LegPhase.ENDED), "phase"))
        waiting = replace(
            caller, phase=CallerPhase.WAITING, queue=queue, offer_id="", agent_id="", bridge=""
        )
        writes.append(update(waiting, "phase", "queue", "offer_id", "agent_id", "bridge"))
        await self.records.save(*writes)
        if caller.phase is CallerPhase.BRIDGED:
            await self._hang_up(leg_id(caller.offer_id, caller.agent_id))
            bridge = caller.bridge
            await ari_request(call_id, "destroy bridge", lambda: self.ari.destroy_bridge(bridge))
        logger.info("%s transferred to %s at position %d", call_id, queue, position)
        await self._announce(waiting, position, None)
        await self.dispatch(queue, waiting)

    async def _ring_handover(self, caller: Caller, agent_id: str) -> None:
        """Ring ``agent_id`` to take the connected call over; the first agent stays on."""
        if caller.phase is not CallerPhase.BRIDGED:
            raise AcdError("not-connected", caller.call_id)
        profile = self.agents.get(agent_id)
        if profile and profile.nailed_up:  # its one phone line is the standing connection
            raise AcdError("nailed-up", agent_id)
        offer = await self.store.handover_offer(caller.call_id, agent_id, self.clock())
        (agent,) = offer.agents
        ringing = replace(caller, transfer_leg=leg_id(offer.offer_id, agent_id))
        display = f"Transfer {caller.pseudonym} ({caller.queue})".replace('"', "")
        caller_id = f'"{display}" <{self.settings.asterisk.hotline_number}>'
        logger.info("%s rings agent %s to take the call over", caller.call_id, agent_id)
        queue = self.queues[caller.queue]
        along = (update(ringing, "transfer_leg"),)
        await self._originate(offer, agent, queue, caller_id, False, along, handover=True)

    async def _take_over(self, leg: Leg) -> None:
        """The transfer's agent took the call: bridge them in, hang up the first agent."""
        first = await self.store.handover_accept(leg.offer_id, leg.agent_id, self.clock())
        if first is None:  # the call ended meanwhile
            await self._hang_up(leg.leg_id)
            return
        caller = await self.records.caller(leg.call_id)
        if caller is None:
            await self._end_connected(leg.call_id, leg.offer_id, leg.agent_id)
            return
        first_leg_id = leg_id(caller.offer_id, first)
        writes = [update(replace(leg, phase=LegPhase.BRIDGED), "phase")]
        if first_leg := await self.records.leg(first_leg_id):
            writes.append(update(replace(first_leg, phase=LegPhase.ENDED), "phase"))
        moved = replace(caller, offer_id=leg.offer_id, agent_id=leg.agent_id, transfer_leg="")
        writes.append(update(moved, "offer_id", "agent_id", "transfer_leg"))
        await self.records.save(*writes)
        channel, bridge = leg.leg_id, caller.bridge
        joined = await ari_request(
            channel, "join bridge", functools.partial(self.ari.add_to_bridge, bridge, channel)
        )
        await self._hang_up(first_leg_id)
        if not joined:
            await self._end_bridge(moved, leg.agent_id, Party.AGENT)
            return
        logger.info("%s taken over from agent %s by agent %s", leg.call_id, first, leg.agent_id)


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
