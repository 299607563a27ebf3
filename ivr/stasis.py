"""ARI events in, IVR state machine, ARI requests and Redis writes out.

One call's events arrive here in order (the dispatcher serialises each channel). The call's
state lives in Redis between events (this instance also keeps the last state it wrote, so it
reads Redis only for a call it has not written since it started); the pure machine in
``ivr.machine`` decides; this adapter carries out its commands. Timers are local to the app
instance that owns the call's Stasis session, since only that instance receives the call's
events.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import redis.asyncio as aioredis

from core.ari import (
    AriClient,
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
)
from core.commands import (
    Digit,
    HungUp,
    Play,
    PlaybackDone,
    ari_playback_id,
    carry_out_media,
    machine_playback_id,
)
from core.commands import TimerFired as MachineTimerFired
from core.config import Settings
from core.keys import Keys
from core.ports import IVR_PATH_VARIABLE, LINE_VARIABLE, TextConversations
from core.privacy import InvalidNumber, Vault, VaultEntry
from ivr import machine
from ivr.flow import Flow
from ivr.paths import readable_path

logger = logging.getLogger(__name__)

#: Dialplan context (dialplans/extensions.conf) that takes calls the app cannot handle.
FALLBACK_CONTEXT = "hotline-fallback"


class QueueHandoff(Protocol):
    """Where the IVR sends a call that reaches a ``queue`` node (the ACD)."""

    async def enter(
        self, channel_id: str, queue: str, language: str, variables: Mapping[str, str]
    ) -> None:
        """Take the call into ``queue``."""

    async def handle(self, channel_id: str, event: CallEvent) -> None:
        """One event of a call the handoff owns (including its StasisEnd)."""


@dataclass
class IvrService:
    """Runs the IVR flow on each call that enters the app."""

    settings: Settings
    flow: Flow
    ari: AriClient
    redis: aioredis.Redis
    vault: Vault
    timers: ChannelTimers
    queues: QueueHandoff
    clock: Callable[[], datetime]
    #: The SMS side's conversations (for ``text`` nodes; None: no SMS side).
    texts: TextConversations | None = None
    #: The last state written of each live call (Redis holds the same).
    _states: dict[str, machine.CallState] = field(default_factory=dict, repr=False)

    @property
    def keys(self) -> Keys:
        return Keys(self.settings.redis.prefix)

    async def handle(self, channel_id: str, event: CallEvent) -> bool:
        """Process one event of one call; False if the channel is not an IVR call."""
        if isinstance(event, StasisStart):
            await self._start(channel_id, event)
            return True
        state = await self._load(channel_id)
        if state is None:
            return False  # not an IVR call, or already finished
        if state.phase is machine.Phase.QUEUED:
            await self.queues.handle(channel_id, event)
        if isinstance(event, StasisEnd | ChannelGone):
            await self._finish(channel_id, state)
            return True
        ivr_event = self._to_machine_event(event)
        if ivr_event is None:
            return True
        new_state, commands = machine.step(self.flow, state, ivr_event, self.clock())
        extra = []
        if isinstance(event, PlaybackFinished):
            played = machine_playback_id(event.playback_id)
            extra.append(("played", {"playback": played, "state": event.state}))
        await self._write(channel_id, new_state, commands, extra)
        await self._execute(channel_id, commands)
        return True

    async def _start(self, channel_id: str, event: StasisStart) -> None:
        if not event.args or event.args[0] != "inbound":
            logger.warning("%s entered Stasis with unexpected args; hanging up", channel_id)
            await ari_request(channel_id, "hangup", lambda: self.ari.hangup(channel_id))
            return
        did = event.args[1] if len(event.args) > 1 else ""
        entry = await self._remember_caller(event.channel.caller_number)
        caller = f"h:{entry.ref[:12]}" if entry else "anonymous"
        logger.info("%s inbound call from %s to %s", channel_id, caller, did)
        # Our dialplan answers before Stasis() (dialplans/extensions.conf); answering again
        # would only wait on the channel's Stasis loop. Another dialplan may send it ringing.
        ringing = event.channel.state != "Up"
        if ringing and not await ari_request(
            channel_id, "answer", lambda: self.ari.answer(channel_id)
        ):
            return
        known = {"caller_ref": entry.ref, "pseudonym": entry.pseudonym} if entry else {}
        known[LINE_VARIABLE] = did
        state, commands = machine.start(self.flow, self.clock(), did, known)
        pseudonym = entry.pseudonym if entry else ""
        call = ("call", {"caller": caller, "did": did, "pseudonym": pseudonym})
        await self._write(channel_id, state, commands, [call], register=True)
        await self._execute(channel_id, commands)

    async def _switch_to_text(
        self,
        channel_id: str,
        language: str,
        variables: Mapping[str, str],
        history: tuple[str, ...],
    ) -> None:
        """Open a text conversation carrying the call's context (menu choices, language)."""
        ref = variables.get("caller_ref", "")
        if self.texts is None or not ref:
            logger.info("%s cannot go on by text (no SMS side, or a withheld number)", channel_id)
            return
        context = {"from": "ivr", "menu": " ".join(history), "language": language}
        context["call"] = channel_id
        now = self.clock().timestamp()
        pseudonym = variables.get("pseudonym", "")
        conversation = await self.texts.open_from_call(ref, pseudonym, language, now, context)
        logger.info("%s continues by text in conversation %s", channel_id, conversation)

    async def _remember_caller(self, number: str) -> VaultEntry | None:
        """Keep the caller's number in the vault; None for a withheld or malformed number."""
        try:
            return await self.vault.store(number, self.flow.default_language, now=self.clock())
        except InvalidNumber:
            return None

    async def _finish(self, channel_id: str, state: machine.CallState) -> None:
        self.timers.clear(channel_id)
        _, commands = machine.step(self.flow, state, HungUp(), self.clock())
        await self._write(channel_id, None, commands)
        logger.info("%s call ended at node %s", channel_id, state.node)

    async def escape(self, channel_id: str) -> None:
        """Hand the call to the dialplan's fallback context (used when handling it failed)."""
        self.timers.clear(channel_id)
        await ari_request(
            channel_id,
            "fallback",
            lambda: self.ari.continue_in_dialplan(channel_id, FALLBACK_CONTEXT, "s", 1),
        )

    async def lost_events(self, channel_id: str) -> list[CallEvent]:
        """What a call that outlived the process handling it waits for in vain: the end of
        a playback Asterisk no longer has, or its digit timer (the timer lived in that
        process; it runs out now). Empty for a queued call (the ACD's) or an unknown one."""
        state = await self._load(channel_id)
        if state is None or state.phase in (machine.Phase.QUEUED, machine.Phase.DONE):
            return []
        if state.playback_id is not None:
            playback = ari_playback_id(channel_id, state.playback_id)
            if await self.ari.playback_exists(playback):
                return []
            return [PlaybackFinished(playback, "", f"channel:{channel_id}", "done")]
        if state.timer is not None and not self.timers.pending(channel_id, state.timer):
            return [TimerFired(channel_id, state.timer)]
        return []

    def _to_machine_event(self, event: CallEvent) -> machine.InputEvent | None:
        if isinstance(event, ChannelDtmfReceived):
            return Digit(event.digit)
        if isinstance(event, PlaybackFinished):
            return PlaybackDone(machine_playback_id(event.playback_id))
        if isinstance(event, TimerFired):
            return MachineTimerFired(event.timer)
        return None

    async def _load(self, channel_id: str) -> machine.CallState | None:
        if (state := self._states.get(channel_id)) is not None:
            return state
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
        if state is None:
            self._states.pop(channel_id, None)
        else:
            self._states[channel_id] = state
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
                elif isinstance(command, Play):
                    detail = {
                        "playback": command.playback_id,
                        "media": ",".join(command.media),
                        "language": command.language or "",
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
            if await carry_out_media(channel_id, command, self.ari, self.timers):
                continue
            match command:
                case machine.EnterQueue(
                    queue=queue, language=lang, variables=variables, history=history
                ):
                    path = readable_path(self.flow, history)
                    handed = {**variables, IVR_PATH_VARIABLE: path}
                    await self.queues.enter(channel_id, queue, lang, handed)
                case machine.SwitchToText(language=lang, variables=variables, history=history):
                    await self._switch_to_text(channel_id, lang, variables, history)
                case machine.Journal():
                    pass  # written with the state in _write
