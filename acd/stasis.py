"""ARI side of the ACD: routes each channel's events to the call machine and carries out its
commands.

The decisions live in pure modules (``acd.calls`` and its neighbours); this adapter turns ARI
and timer events into the machine's events, reads the records a step consults, carries out
the commands (ARI requests, record writes, the store's Lua scripts) and feeds the answers of
those that ask something back in as the next event. The store (``acd.store``) decides
atomically who gets which call. Offers for a call owned by another app instance go to that
instance's inbox stream, since only the instance holding the caller's Stasis session can
bridge it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from acd import calls
from acd.callers import caller_step, joined, leave
from acd.calls import NAIL_PREFIX, Setup, Timer, leg_id
from acd.config import AgentProfile, QueueConfig
from acd.endings import end_callback, end_nailed_call
from acd.hangups import hangup_of
from acd.legs import leg_step
from acd.model import AcdError, CallKind, MissReason, Offer, WaitingCall
from acd.monitoring import Monitors, monitor_of
from acd.nails import connect_nailed, nail_step, offer_nailed
from acd.offers import call_texter, offer_from_json, offer_to_json, ring
from acd.records import Caller, CallerPhase, Leg, LegPhase, Records, put, update
from acd.recovery import AcdRecovery
from acd.store import AcdStore
from acd.transfers import Transfer, transfer_of
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
from core.commands import Digit, Hangup, PlaybackDone, carry_out_media, machine_playback_id
from core.config import Settings
from core.keys import CONVERSATION_FEED_MAXLEN, Keys
from core.ports import (
    IVR_PATH_VARIABLE,
    LINE_VARIABLE,
    RequestConfirmations,
    TextConversations,
)
from core.privacy import NotInVault, Vault
from core.tasks import cancel_requested, repeat, stop_if_cancelled

logger = logging.getLogger(__name__)

#: After a wrap-up's end, so that the store's clock has passed it when the offer is made.
_WRAPUP_MARGIN_S = 0.02
#: Timer names the machine owns (the IVR's timers share the channels' timer table).
_TIMERS = frozenset(calls.Timer)


def _as_step_event(event: CallEvent) -> calls.ChannelEvent | None:
    """An ARI or timer event as the machine's (None: nothing the machine handles)."""
    match event:
        case StasisStart():
            return calls.Answered()
        case StasisEnd() | ChannelGone():
            return calls.HungUp()
        case ChannelDestroyed(cause=cause):
            return calls.HungUp(cause)
        case ChannelDtmfReceived(digit=digit):
            return Digit(digit)
        case PlaybackFinished(playback_id=pid):
            return PlaybackDone(machine_playback_id(pid))
        case TimerFired(timer=timer) if timer in _TIMERS:
            return calls.TimedOut(calls.Timer(timer))
    return None


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
    #: Short-lived tasks: offers due when a volunteer's wrap-up ends.
    _soon: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.records = Records(self.redis, self.keys)
        #: Legs this process rang whose channel has not ended (their timers are ours).
        self.rung: set[str] = set()
        self.recovery = AcdRecovery(
            self.redis,
            self.keys,
            self.records,
            self.ari,
            self.timers,
            self.queues,
            tuple(self.agents),
            self.instance,
            self.settings.acd.confirm_timeout_s,
            self.clock,
        )
        nailed = frozenset(a.id for a in self.agents.values() if a.nailed_up)
        number = self.settings.asterisk.hotline_number
        self.setup = Setup(self.settings.acd, self.queues, number, nailed)
        #: Supervisors listening to, whispering into or barging into this instance's calls.
        self.monitors = Monitors(
            self.redis,
            self.store,
            self.records,
            self.ari,
            self.timers,
            self.agents,
            self.instance,
            number,
            self.clock,
        )

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
        for task in (*self._tasks, *self._soon):
            task.cancel()
        await asyncio.gather(*self._tasks, *self._soon, return_exceptions=True)
        self._tasks.clear()

    async def _tick(self) -> None:
        """Expire long waits of our calls, and retry routing (widening, wrap-ups ending)."""
        await repeat(self._expire_and_route, self.settings.acd.tick_s, "ACD tick")

    async def _expire_and_route(self) -> None:
        now = self.clock()
        for queue in self.queues:
            expiry = await self.store.expire(queue, self.instance, now)
            for offer_id, call_id in expiry.offers:
                logger.warning("offer %s of %s expired unsettled", offer_id, call_id)
            for leaving in expiry.exits:
                logger.info("%s left %s: %s", leaving.call_id, queue, leaving.reason.value)
                # Handled on the caller's own ordered queue, like its other events.
                self.timers.start(leaving.call_id, Timer.EXPIRED, 0)
            await self.dispatch(queue)

    async def _read_inbox(self) -> None:
        """Ring offers that another instance claimed for our calls; take transfer and
        supervisors' monitor requests."""
        inbox, last = self.keys.acd_inbox(self.instance), "$"
        while True:
            stop_if_cancelled()
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
                        elif ending := hangup_of(fields):
                            await self._hang_up_agent(*ending)
                        elif monitoring := monitor_of(fields):
                            await self.monitors.start(monitoring)
                        else:
                            await self._ring(offer_from_json(fields["offer"]))
            except asyncio.CancelledError:
                raise
            except Exception:
                if cancel_requested():
                    raise asyncio.CancelledError from None
                logger.exception("ACD inbox failed; retrying")
                await asyncio.sleep(1)

    async def _read_voice_requests(self) -> None:
        """Carry out volunteers' requests to call a texter (``#call`` by SMS, or the console).
        The consumer group is created again if Redis lost it (restarted empty)."""
        stream, group = self.keys.voice_requests, "ari"
        await self._create_group(stream, group)
        while True:
            stop_if_cancelled()
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
            except ResponseError as exc:
                if cancel_requested():
                    raise asyncio.CancelledError from None
                if "NOGROUP" not in str(exc):
                    logger.exception("voice requests failed; retrying")
                    await asyncio.sleep(1)
                    continue
                logger.error("voice requests: consumer group lost; creating it again")
                await self._create_group(stream, group)
            except Exception:
                if cancel_requested():
                    raise asyncio.CancelledError from None
                logger.exception("voice requests failed; retrying")
                await asyncio.sleep(1)

    async def _create_group(self, stream: str, group: str) -> None:
        try:
            await self.redis.xgroup_create(stream, group, id="0", mkstream=True)
        except ResponseError as exc:  # the group exists already
            if "BUSYGROUP" not in str(exc):
                raise

    # --- entry points ------------------------------------------------------------------

    async def call_texter(self, request: Mapping[str, str]) -> None:
        """Ring the volunteer who asked; once they answer, dial the texter from the hotline
        number and bridge them. Neither sees the other's number. The volunteer is held out of
        queue routing since the request (``acd.texter_calls``) until the call ends; one freed
        meanwhile is not rung."""
        agent_id, ref = request.get("agent", ""), request.get("caller_ref", "")
        call_id, now = request.get("call", ""), self.clock()
        profile = self.agents.get(agent_id)
        if profile is None or not ref or not call_id:
            logger.warning("voice request %s: no such agent or caller", request.get("request"))
            if profile is not None and call_id:
                await self.store.release_texter_call(call_id, agent_id, now)
            return
        if not await self.store.claim_texter_call(call_id, agent_id, self.instance, now):
            logger.warning("%s agent %s no longer held for it: not rung", call_id, agent_id)
            return
        callback = Caller(
            call_id,
            request.get("queue", ""),
            request.get("language", "en"),
            request.get("pseudonym", ""),
            now,
            ref,
        )
        conversation = request.get("conversation", "")
        device = profile.devices[0]
        await self._run(call_texter(callback, agent_id, device, self.setup, conversation))

    async def enter(
        self, channel_id: str, queue: str, language: str, variables: Mapping[str, str]
    ) -> None:
        """A caller joins ``queue`` (from the IVR, an overflow or a transfer)."""
        now = self.clock()
        pseudonym = variables.get("pseudonym", "Anonymous")
        call = WaitingCall(
            channel_id,
            queue,
            self.instance,
            pseudonym,
            language,
            now,
            line=variables.get(LINE_VARIABLE, ""),
            ivr_path=variables.get(IVR_PATH_VARIABLE, ""),
        )
        caller_ref = variables.get("caller_ref", "")
        caller = Caller(channel_id, queue, language, pseudonym, now, caller_ref)
        try:
            async with self.records.along(put(caller)) as records:  # written first
                result = await self.store.enqueue(call, now, records, claim=True)
        except AcdError as exc:
            logger.error("%s cannot join %s: %s", channel_id, queue, exc)
            await self._run(leave(caller, ("vm-goodbye",), now)[1])
            return
        caller, commands = joined(caller, result, self.setup, now)
        if (answer := await self._execute(commands)) is not None:  # e.g. a callback kept
            await self._step_caller(caller, cast(calls.CallerEvent, answer))

    async def handle(self, channel_id: str, event: CallEvent) -> None:
        """One event of a queued caller (the IVR hands over every event once queued)."""
        step = _as_step_event(event)
        if step is None or isinstance(step, calls.Answered):
            return
        caller = await self.records.caller(channel_id)
        if caller is not None:
            await self._step_caller(caller, step)

    async def handle_leg(self, channel_id: str, event: CallEvent) -> None:
        """One event of a leg the ACD originated (agent, caller called back, nailed-up)."""
        try:
            step = _as_step_event(event)
            if step is None:
                return
            if channel_id.startswith(NAIL_PREFIX):
                await self._step_nail(channel_id.removeprefix(NAIL_PREFIX), step)
            elif (leg := await self.records.leg(channel_id)) is not None:
                await self._step_leg(leg, step)
        finally:
            if ends_call(event):
                self.records.forget(channel_id)
                self.rung.discard(channel_id)

    async def dispatch(
        self,
        queue: str,
        joined: Caller | None = None,
        *,
        claimed: bool = False,
        offer: Offer | None = None,
    ) -> None:
        """Offer the queue's waiting calls to available agents until one side runs out
        (``joined``: the caller who just joined, already loaded; ``claimed``: the store
        claimed once already, ``offer`` being its answer)."""
        if not claimed:
            offer = await self.store.claim(queue, self.clock())
        while offer is not None:
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
            offer = await self.store.claim(queue, self.clock())

    # --- stepping the machines -----------------------------------------------------------

    async def _step_caller(self, caller: Caller, event: calls.CallerEvent) -> None:
        """Step the caller's machine, feeding the answers of its commands back in."""
        next_event: calls.Event | None = event
        while next_event is not None:
            agent_leg = None
            if caller.phase is CallerPhase.BRIDGED and caller.offer_id:
                agent_leg = await self.records.leg(leg_id(caller.offer_id, caller.agent_id))
            changed, commands = caller_step(
                caller, cast(calls.CallerEvent, next_event), self.setup, self.clock(), agent_leg
            )
            caller = changed or caller
            next_event = await self._execute(commands)

    async def _step_leg(self, leg: Leg, event: calls.LegEvent) -> None:
        """Step the leg's machine, feeding the answers of its commands back in."""
        next_event: calls.Event | None = event
        while next_event is not None and leg.phase is not LegPhase.ENDED:
            if leg.callback:
                caller = await self.records.callback(leg.call_id)
            else:
                caller = await self.records.caller(leg.call_id)
            leg, commands = leg_step(leg, cast(calls.LegEvent, next_event), caller, self.setup)
            next_event = await self._execute(commands)

    async def _step_nail(self, agent_id: str, event: calls.ChannelEvent | calls.RingFailed) -> None:
        """One event of a nailed-up agent's standing connection."""
        nail = await self.records.nail(agent_id)
        if nail is None or isinstance(event, PlaybackDone | Digit):
            return
        caller = await self.records.caller(nail.call_id) if nail.call_id else None
        _, commands = nail_step(nail, event, caller)
        await self._execute(commands)  # a failed join shows as the connection's own end

    async def _ring(self, offer: Offer, joined: Caller | None = None) -> None:
        """Ring every agent of the offer with a masked identity."""
        call = offer.call
        if call.kind is CallKind.CALLBACK:
            caller = await self.records.callback(call.call_id)
        elif joined is not None and joined.call_id == call.call_id:
            caller = joined
        else:
            caller = await self.records.caller(call.call_id)
        await self._run(ring(offer, caller, self.setup))

    async def _run(self, commands: list[calls.Command]) -> None:
        """Carry out commands whose answers no machine waits for."""
        await self._execute(commands)

    # --- carrying out the machine's commands ---------------------------------------------

    async def _execute(self, commands: list[calls.Command]) -> calls.Event | None:
        """Carry out ``commands`` in order; the last answer one of them gave, if any."""
        answer: calls.Event | None = None
        for command in commands:
            found = await self._carry_out(command)
            if found is not None:
                answer = found
        return answer

    async def _carry_out(self, command: calls.Command) -> calls.Event | None:
        ari = self.ari
        match command:
            case calls.On(channel=ch, command=on_channel):
                await carry_out_media(ch, on_channel, ari, self.timers)
            case calls.Originate():
                await self._originate(command)
            case calls.DialCaller(callee=callee, caller_ref=ref):
                return await self._dial_caller(callee, ref)
            case calls.CreateBridge(channel=ch, bridge=bridge):
                await ari_request(ch, "bridge", functools.partial(ari.create_bridge, bridge))
            case calls.Connect(bridge=bridge, call_id=call_id, leg_id=leg):
                await ari_request(call_id, "bridge", functools.partial(ari.create_bridge, bridge))
                # Both at once: Asterisk adds neither if one is gone.
                join = functools.partial(ari.add_to_bridge, bridge, call_id, leg)
                if not await ari_request(call_id, "join bridge", join):
                    return calls.JoinFailed()
            case calls.Join(bridge=bridge, channel=ch):
                join = functools.partial(ari.add_to_bridge, bridge, ch)
                if not await ari_request(ch, "join bridge", join):
                    return calls.JoinFailed()
            case calls.DestroyBridge(channel=ch, bridge=bridge):
                destroy = functools.partial(ari.destroy_bridge, bridge)
                await ari_request(ch, "destroy bridge", destroy)
            case calls.Save(writes=writes):
                await self.records.save(*writes)
            case calls.Log(channel=ch, message=message):
                logger.info("%s %s", ch, message)
            case calls.PopTextCall():
                await self._pop_text_call(command)
            case _:
                return await self._ask_store(command)
        return None

    async def _ask_store(self, command: calls.Command) -> calls.Event | None:
        """Carry out a command that involves the store or another record."""
        now = self.clock()
        match command:
            case calls.Accept(offer_id=offer_id, agent_id=agent_id, writes=writes):
                # The writes are made by the store only if this agent wins, in its round trip.
                encoded = self.records.encode(*writes)
                result = await self.store.accept(offer_id, agent_id, now, encoded)
                if result.won:
                    self.records.remember(*writes)
                return calls.Accepted(result.won, result.released)
            case calls.AcceptHandover(offer_id=offer_id, agent_id=agent_id):
                first = await self.store.handover_accept(offer_id, agent_id, now)
                return calls.TookOver(first or "")
            case calls.Reject(offer_id=offer_id, agent_id=agent_id, queue=queue, reason=reason):
                await self._reject(offer_id, agent_id, queue, reason)
            case calls.ReleaseHandover():
                await self._release_handover(command)
            case calls.Complete():
                await self._complete(command)
            case calls.Dispatch(queue=queue, joined=caller, claimed=claimed, offer=offer):
                await self.dispatch(queue, caller, claimed=claimed, offer=offer)
            case calls.AskPosition(call_id=call_id):
                return calls.Position(await self.store.position(call_id))
            case calls.Abandon(call_id=call_id):
                return await self._abandon(call_id)
            case calls.ToCallback(call_id=call_id):
                try:
                    await self.store.to_callback(call_id, now)
                except AcdError as exc:  # already offered: the call goes on
                    return calls.Refused(exc.code)
                return calls.CallbackKept()
            case calls.LeaveForText(call_id=call_id):
                if self.texts is None:
                    return calls.Refused("no-text")
                try:
                    left = await self.store.abandon(call_id, now)
                except AcdError as exc:  # an agent has just taken the call: it goes on
                    return calls.Refused(exc.code)
                return calls.LeftForText(left.released)
            case calls.EnqueueCallback(caller=caller):
                return await self._enqueue_callback(caller)
            case calls.Enter(caller=caller, queue=queue):
                variables = {"pseudonym": caller.pseudonym, "caller_ref": caller.caller_ref}
                await self.enter(caller.call_id, queue, caller.language, variables)
            case calls.MoveToQueue(call_id=call_id, queue=queue):
                try:
                    return calls.Moved(queue, await self.store.transfer(call_id, queue, now))
                except AcdError as exc:
                    return calls.Refused(exc.code)
            case calls.OfferHandover(call_id=call_id, agent_id=agent_id):
                if agent_id in self.setup.nailed:  # its one phone line is the standing connection
                    return calls.Refused("nailed-up")
                try:
                    return calls.HandoverOffered(
                        await self.store.handover_offer(call_id, agent_id, now)
                    )
                except AcdError as exc:
                    return calls.Refused(exc.code)
            case calls.RequestTransfer(call_id=call_id, transfer=transfer):
                await self._queue_transfer(call_id, transfer)
            case calls.EndTexterCall(call_id=call_id, agent_id=agent_id):
                if await self.store.release_texter_call(call_id, agent_id, now, self.instance):
                    self._offer_when_free(agent_id, now)
            case calls.EndCallback(leg=leg, by=by):
                agent_leg = await self.records.leg(leg_id(leg.offer_id, leg.agent_id))
                callee_leg = await self.records.leg(calls.callee_id(leg.call_id))
                await self._run(end_callback(leg, by, agent_leg, callee_leg))
            case calls.OfferNailed(offer=offer, agent=agent):
                nail = await self.records.nail(agent.agent_id)
                await self._run(offer_nailed(offer, agent, nail, self.setup))
            case calls.ConnectNailed(offer=offer, nail=nail):
                result = await self.store.accept(offer.offer_id, nail.agent_id, now)
                caller = await self.records.caller(offer.call.call_id)
                await self._run(connect_nailed(offer, nail, caller, result.won))
            case calls.EndNailedCall(caller=caller, agent_id=agent_id, by=by):
                nail = await self.records.nail(agent_id)
                await self._run(end_nailed_call(caller, agent_id, by, nail))
            case calls.OpenConversation(caller=caller):
                await self._open_conversation(caller)
            case calls.ConfirmBySms(caller=caller, kind=kind):
                await self._confirm_by_sms(caller, kind)
        return None

    async def _originate(self, ring: calls.Originate) -> None:
        """Ring a device; if Asterisk refuses, the leg's machine hears of it (there is no
        channel, so no other event will end it)."""
        self.rung.add(ring.channel)
        try:
            await self.ari.originate(
                endpoint=ring.endpoint,
                app=self.instance,
                app_args=ring.app_args,
                channel_id=ring.channel,
                caller_id=ring.caller_id,
                timeout=ring.timeout_s,
                variables=dict(ring.variables),
            )
        except AriError as exc:
            logger.warning("%s cannot be rung: %s", ring.channel, exc)
            failed = calls.RingFailed(pbx_down=exc.status == 0 or exc.status >= 500)
            if ring.channel.startswith(NAIL_PREFIX):
                await self._step_nail(ring.channel.removeprefix(NAIL_PREFIX), failed)
            elif (leg := await self.records.leg(ring.channel)) is not None:
                await self._step_leg(leg, failed)
            self.records.forget(ring.channel)
            self.rung.discard(ring.channel)

    async def _pop_text_call(self, pop: calls.PopTextCall) -> None:
        """Put the call to a texter on the conversation feed (the volunteer's console pops
        the conversation), once their phone is rung: not if Asterisk refused to ring it."""
        if pop.channel not in self.rung:
            return
        entry = {
            "conversation": pop.conversation_id,
            "agent": pop.agent_id,
            "call": pop.call_id,
            "language": pop.language,
            "at": f"{pop.asked_at:.3f}",
        }
        await self.redis.xadd(
            self.keys.conversation_feed,
            cast(dict[Any, Any], entry),
            maxlen=CONVERSATION_FEED_MAXLEN,
            approximate=True,
        )

    async def _dial_caller(self, callee: Leg, caller_ref: str) -> calls.Event | None:
        """Dial the caller of a callback from the hotline number (the number is revealed
        from the vault for this delivery only, and never logged)."""
        try:
            number = await self.vault.reveal_for_delivery(caller_ref)
        except NotInVault:
            logger.warning("%s callback impossible: caller no longer in the vault", callee.call_id)
            self.records.forget(callee.leg_id)  # never dialled
            return calls.CalleeUnreachable()
        hotline = self.settings.asterisk.hotline_number
        self.rung.add(callee.leg_id)
        try:
            await self.ari.originate(
                endpoint=f"PJSIP/{number}@carrier",
                app=self.instance,
                app_args="callee",
                channel_id=callee.leg_id,
                caller_id=f'"{hotline}" <{hotline}>',
                timeout=35,
            )
        except AriError as exc:
            logger.warning("%s cannot dial the caller back: %s", callee.call_id, exc.status)
            self.records.forget(callee.leg_id)  # no channel: no event will end it
            self.rung.discard(callee.leg_id)
            return calls.CalleeUnreachable()
        return None

    async def _abandon(self, call_id: str) -> calls.Event | None:
        """Take a caller who hung up out of the store's queue."""
        try:
            result = await self.store.abandon(call_id, self.clock())
        except AcdError as exc:
            if exc.code != "call-connected":
                return None  # already a callback entry, or never queued
            # An agent accepted just as the caller hung up.
            agent = await self.redis.hget(self.keys.acd_call(call_id), "agent")
            return calls.ConnectedMeanwhile(cast(str | None, agent) or "")
        logger.info("%s abandoned after %.0f s", call_id, result.waited_s)
        return calls.Abandoned(result.released)

    async def _complete(self, end: calls.Complete) -> None:
        """A connected call ended: this instance sees ``end.writes`` at once; Redis gets them
        with the completion (or on their own if the store refuses it)."""
        async with self.records.along(*end.writes) as records:
            for channel in end.hang_up:
                await carry_out_media(channel, Hangup(), self.ari, self.timers)
            if end.bridge:
                destroy = functools.partial(self.ari.destroy_bridge, end.bridge)
                await ari_request(end.call_id, "destroy bridge", destroy)
            try:
                wrapped_up = await self.store.complete(
                    end.call_id, end.agent_id, self.clock(), end.by, records
                )
            except AcdError as exc:  # the other side's path got there first
                logger.info("%s already completed: %s", end.call_id, exc)
                await self.records.save(*end.writes)
                return
        self._offer_when_free(end.agent_id, wrapped_up)

    def _offer_when_free(self, agent_id: str, at: float) -> None:
        """Offer waiting calls to a volunteer as soon as their wrap-up ends (at once if there
        is none), rather than on the next tick; the tick stays the safety net."""
        profile = self.agents.get(agent_id)
        queues = [q for q in profile.queues if q in self.queues] if profile else []
        delay = max(0.0, at - self.clock())
        if delay:
            delay += _WRAPUP_MARGIN_S

        async def offer() -> None:
            await asyncio.sleep(delay)
            try:
                for queue in queues:
                    await self.dispatch(queue)
            except Exception:
                logger.exception("agent %s: offer after wrap-up failed; the tick retries", agent_id)

        task = asyncio.create_task(offer())
        self._soon.add(task)
        task.add_done_callback(self._soon.discard)

    async def _reject(self, offer_id: str, agent_id: str, queue: str, reason: MissReason) -> None:
        try:
            result = await self.store.reject(offer_id, agent_id, reason, self.clock())
        except AcdError as exc:
            logger.info("offer %s to %s already settled: %s", offer_id, agent_id, exc)
            return
        if result.agent_paused:
            logger.info("agent %s paused after missed offers", agent_id)
        if reason is not MissReason.NOT_RUNG:  # with Asterisk failing, the tick tries again
            await self.dispatch(queue)

    async def _release_handover(self, release: calls.ReleaseHandover) -> None:
        """The agent rung to take a call over did not: free them; the call stays."""
        await self.store.handover_release(release.offer_id, release.agent_id, self.clock())
        caller = await self.records.caller(release.call_id)
        if caller and caller.transfer_leg == release.leg_id:
            await self.records.save(update(replace(caller, transfer_leg=""), "transfer_leg"))
        await self.dispatch(release.queue)

    async def _enqueue_callback(self, caller: Caller) -> calls.Event:
        """Queue a callback for a caller who overflowed, at their place by time."""
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
            result = await self.store.enqueue(call, self.clock())
        except AcdError as exc:
            return calls.CallbackRefused(exc.code)
        if not result.accepted:
            return calls.CallbackRefused(str(result.reason))
        return calls.CallbackKept()

    async def _hang_up_agent(self, call_id: str, agent_id: str) -> None:
        """Hang up the volunteer's side of a connected call (a nailed-up operator's standing
        leg stays: the caller's channel is hung up instead); the call then ends through its
        machine like any other."""
        caller = await self.records.caller(call_id)
        if caller is None or caller.phase is not CallerPhase.BRIDGED or caller.agent_id != agent_id:
            logger.info("%s is not bridged to %s: hang-up dropped", call_id, agent_id)
            return
        channel = call_id if caller.nailed else leg_id(caller.offer_id, agent_id)
        logger.info("%s: %s hangs up from the console (%s)", call_id, agent_id, channel)
        try:
            await self.ari.hangup(channel)
        except AriError as exc:  # gone meanwhile: its end is under way
            logger.info("%s: console hang-up of %s: %s", call_id, channel, exc)

    async def _queue_transfer(self, call_id: str, transfer: Transfer) -> None:
        """Note a requested transfer on the caller, then carry it out on the caller's own
        ordered queue, like its other events."""
        caller = await self.records.caller(call_id)
        if caller is None:
            logger.info("%s is gone: transfer dropped", call_id)
            return
        noted = replace(caller, transfer_to=transfer.encode())
        await self.records.save(update(noted, "transfer_to"))
        self.timers.start(call_id, Timer.TRANSFER, 0)

    # --- the SMS side ------------------------------------------------------------------

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

    async def _open_conversation(self, caller: Caller) -> None:
        """The caller goes on by text: a conversation opens with the call's context and their
        time already waited, so they keep their place."""
        if self.texts is None:
            return
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
