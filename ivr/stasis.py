"""ARI events in, IVR state machine, ARI requests and Redis writes out.

One call's events arrive here in order (the dispatcher serialises each channel). The call's
state lives in Redis between events; the pure machine in ``ivr.machine`` decides; this adapter
carries out its commands. Timers are local to the app instance that owns the call's Stasis
session, since only that instance receives the call's events.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import redis.asyncio as aioredis
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from hotline.ari import (
    AriClient,
    AriError,
    AriUnavailable,
    ChannelDtmfReceived,
    PlaybackFinished,
    StasisEnd,
    StasisStart,
)
from hotline.config import Settings
from hotline.keys import Keys
from hotline.privacy import number_token
from ivr import machine
from ivr.flow import Flow

logger = logging.getLogger(__name__)

HOLD_SUFFIX = ":hold"
#: Dialplan context (dialplans/extensions.conf) that takes calls the app cannot handle.
FALLBACK_CONTEXT = "hotline-fallback"
QUEUE_TIMER = "queue-hold"


def ari_playback_id(channel_id: str, playback_id: str) -> str:
    """Playback ids are per call in the machine and global in Asterisk: prefix the channel."""
    return f"{channel_id}:{playback_id}"


@dataclass(frozen=True)
class TimerFired:
    """A timer the machine (or the queue placeholder) started has run out."""

    channel_id: str
    timer: str


@dataclass(frozen=True)
class ChannelGone:
    """The channel vanished while the event stream was down (found on resync)."""

    channel_id: str


CallEvent = (
    StasisStart | StasisEnd | ChannelDtmfReceived | PlaybackFinished | TimerFired | ChannelGone
)


def ends_call(event: CallEvent) -> bool:
    """True for the last event of a call."""
    return isinstance(event, StasisEnd | ChannelGone)


@dataclass
class IvrService:
    """Runs the IVR flow on each call that enters the app."""

    settings: Settings
    flow: Flow
    ari: AriClient
    redis: aioredis.Redis
    #: Puts an event back on the channel's ordered queue (used by timers).
    resubmit: Callable[[str, CallEvent], None]
    clock: Callable[[], datetime]
    _timers: dict[str, dict[str, asyncio.TimerHandle]] = field(default_factory=dict)

    @property
    def keys(self) -> Keys:
        return Keys(self.settings.redis.prefix)

    async def handle(self, channel_id: str, event: CallEvent) -> None:
        """Process one event of one call."""
        if isinstance(event, StasisStart):
            await self._start(channel_id, event)
            return
        state = await self._load(channel_id)
        if state is None:
            return  # not a call of ours, or already finished
        if isinstance(event, StasisEnd | ChannelGone):
            await self._finish(channel_id, state)
            return
        if isinstance(event, PlaybackFinished) and event.playback_id.endswith(HOLD_SUFFIX):
            await self._hold(channel_id)
            return
        if isinstance(event, TimerFired) and event.timer == QUEUE_TIMER:
            await self._ari(channel_id, "hangup", lambda: self.ari.hangup(channel_id))
            return
        ivr_event = self._to_machine_event(event)
        if ivr_event is None:
            return
        new_state, commands = machine.step(self.flow, state, ivr_event, self.clock())
        extra = []
        if isinstance(event, PlaybackFinished):
            played = event.playback_id.rpartition(":")[2]
            extra.append(("played", {"playback": played, "state": event.state}))
        await self._write(channel_id, new_state, commands, extra)
        await self._execute(channel_id, commands)

    async def _start(self, channel_id: str, event: StasisStart) -> None:
        if not event.args or event.args[0] != "inbound":
            logger.warning("%s entered Stasis with unexpected args; hanging up", channel_id)
            await self._ari(channel_id, "hangup", lambda: self.ari.hangup(channel_id))
            return
        did = event.args[1] if len(event.args) > 1 else ""
        caller = number_token(event.channel.caller_number, self.settings.secrets.hash_key)
        logger.info("%s inbound call from %s to %s", channel_id, caller, did)
        if not await self._ari(channel_id, "answer", lambda: self.ari.answer(channel_id)):
            return
        state, commands = machine.start(self.flow, self.clock())
        call = ("call", {"caller": caller, "did": did})
        await self._write(channel_id, state, commands, [call], register=True)
        await self._execute(channel_id, commands)

    async def _finish(self, channel_id: str, state: machine.CallState) -> None:
        for handle in self._timers.pop(channel_id, {}).values():
            handle.cancel()
        _, commands = machine.step(self.flow, state, machine.HungUp(), self.clock())
        await self._write(channel_id, None, commands)
        logger.info("%s call ended at node %s", channel_id, state.node)

    async def escape(self, channel_id: str) -> None:
        """Hand the call to the dialplan's fallback context (used when handling it failed)."""
        for handle in self._timers.pop(channel_id, {}).values():
            handle.cancel()
        await self._ari(
            channel_id,
            "fallback",
            lambda: self.ari.continue_in_dialplan(channel_id, FALLBACK_CONTEXT, "s", 1),
        )

    async def pending_playback(self, channel_id: str) -> str | None:
        """The ARI id of the playback the call waits on, if any (for resync after a reconnect)."""
        state = await self._load(channel_id)
        if state is None or state.playback_id is None:
            return None
        return ari_playback_id(channel_id, state.playback_id)

    def _to_machine_event(self, event: CallEvent) -> machine.InputEvent | None:
        if isinstance(event, ChannelDtmfReceived):
            return machine.Digit(event.digit)
        if isinstance(event, PlaybackFinished):
            return machine.PlaybackDone(event.playback_id.rpartition(":")[2])
        if isinstance(event, TimerFired):
            return machine.TimerFired(event.timer)
        return None

    async def _load(self, channel_id: str) -> machine.CallState | None:
        raw = await self.redis.get(self.keys.call(channel_id))
        return machine.CallState.from_dict(json.loads(raw)) if raw else None

    async def _write(
        self,
        channel_id: str,
        state: machine.CallState | None,
        commands: list[machine.Command],
        extra: Sequence[tuple[str, Mapping[str, str]]] = (),
        *,
        register: bool = False,
    ) -> None:
        """Store the call's state (None: the call is over) and journal it, in one round trip."""
        calls = self.keys.app_calls(self.settings.ari.app)
        async with self.redis.pipeline(transaction=False) as pipe:
            if state is None:
                pipe.delete(self.keys.call(channel_id))
                pipe.srem(calls, channel_id)
            else:
                pipe.set(self.keys.call(channel_id), json.dumps(state.to_dict()), ex=86400)
            if register:
                pipe.sadd(calls, channel_id)
            for kind, detail in extra:
                self._xadd(pipe, channel_id, kind, detail)
            for command in commands:
                if isinstance(command, machine.Journal):
                    self._xadd(pipe, channel_id, command.kind, command.detail)
                elif isinstance(command, machine.Play):
                    detail = {
                        "playback": command.playback_id,
                        "media": ",".join(command.media),
                        "language": command.language,
                    }
                    self._xadd(pipe, channel_id, "play", detail)
            await pipe.execute()

    def _xadd(
        self, pipe: aioredis.client.Pipeline, channel_id: str, kind: str, detail: Mapping[str, str]
    ) -> None:
        fields = {"channel": channel_id, "kind": kind, "detail": json.dumps(dict(detail))}
        pipe.xadd(self.keys.journal, fields, maxlen=100_000, approximate=True)  # type: ignore[arg-type]

    async def _execute(self, channel_id: str, commands: list[machine.Command]) -> None:
        for command in commands:
            match command:
                case machine.Play(playback_id=pid, media=media, language=lang):
                    await self._ari(
                        channel_id,
                        "play",
                        lambda: self.ari.play(
                            channel_id,
                            media,
                            playback_id=ari_playback_id(channel_id, pid),
                            lang=lang,
                        ),
                    )
                case machine.StopPlayback(playback_id=pid):
                    await self._ari(
                        channel_id,
                        "stop",
                        lambda: self.ari.stop_playback(ari_playback_id(channel_id, pid)),
                    )
                case machine.StartTimer(timer=timer, seconds=seconds):
                    self._start_timer(channel_id, timer, seconds)
                case machine.CancelTimer(timer=timer):
                    handle = self._timers.get(channel_id, {}).pop(timer, None)
                    if handle:
                        handle.cancel()
                case machine.Hangup():
                    await self._ari(channel_id, "hangup", lambda: self.ari.hangup(channel_id))
                case machine.EnterQueue(queue=queue, language=lang):
                    await self._enter_queue(channel_id, queue, lang)
                case machine.Journal():
                    pass  # written with the state in _write

    def _start_timer(self, channel_id: str, timer: str, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        handle = loop.call_later(seconds, self.resubmit, channel_id, TimerFired(channel_id, timer))
        self._timers.setdefault(channel_id, {})[timer] = handle

    async def _enter_queue(self, channel_id: str, queue: str, language: str) -> None:
        """Placeholder until the ACD exists: a hold message, hold music, then a hang-up."""
        logger.info("%s sent to queue %s (placeholder: hold then hang up)", channel_id, queue)
        media = [f"sound:{name}" for name in self.settings.ivr.queue_hold_prompt]
        if media:
            pid = f"{channel_id}{HOLD_SUFFIX}"
            await self._ari(
                channel_id,
                "hold prompt",
                lambda: self.ari.play(channel_id, media, playback_id=pid, lang=language),
            )
        else:
            await self._hold(channel_id)

    async def _hold(self, channel_id: str) -> None:
        moh = self.settings.ivr.moh_class
        await self._ari(channel_id, "hold music", lambda: self.ari.start_moh(channel_id, moh))
        self._start_timer(channel_id, QUEUE_TIMER, self.settings.ivr.queue_hold_seconds)

    async def _ari(
        self, channel_id: str, what: str, request: Callable[[], Awaitable[object]]
    ) -> bool:
        """Run one ARI request, retrying while Asterisk is unreachable; False if it failed."""
        try:
            try:
                await request()
                return True
            except AriUnavailable:
                logger.warning("%s %s: ARI unreachable, retrying", channel_id, what)
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(AriUnavailable),
                stop=stop_after_attempt(6),
                wait=wait_exponential(multiplier=0.1, max=2.0),
                reraise=True,
            ):
                with attempt:
                    await request()
        except AriError as exc:
            # 404: the caller hung up meanwhile; StasisEnd follows and cleans up.
            level = logging.INFO if exc.status == 404 else logging.WARNING
            logger.log(level, "%s %s failed: %s", channel_id, what, exc)
            return False
        return True
