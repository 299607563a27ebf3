"""ARI side of the volunteer line: volunteers log in and out by phone.

The state machine is ``acd.phone_login``; this adapter answers the call, plays its prompts,
checks the code and PIN (argon2, off the event loop), and logs the volunteer in or out in the
ACD store. A second call from a logged-in volunteer logs them out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import redis.asyncio as aioredis

from acd import phone_login as line
from acd.config import AgentProfile, verify_pin
from acd.routing import AgentState
from acd.store import AcdStore
from core.ari import AriClient, ChannelDtmfReceived, PlaybackFinished, StasisEnd, StasisStart
from core.calls import CallEvent, ChannelGone, ChannelTimers, TimerFired, ari_request
from core.commands import Digit, HungUp, PlaybackDone, carry_out_media, machine_playback_id
from core.commands import TimerFired as MachineTimerFired
from core.keys import Keys

logger = logging.getLogger(__name__)


@dataclass
class VolunteerLine:
    """Runs the volunteer line on calls that enter Stasis with the ``volunteer`` argument."""

    ari: AriClient
    redis: aioredis.Redis
    keys: Keys
    store: AcdStore
    agents: Mapping[str, AgentProfile]
    timers: ChannelTimers
    language: str = "en"
    clock: Callable[[], float] = time.time
    #: PIN digits being keyed, per channel: a secret, so kept in memory only (never in Redis).
    #: A restart mid-PIN makes the volunteer key it again.
    _pins: dict[str, str] = field(default_factory=dict)

    async def start(self, channel_id: str, event: StasisStart) -> None:
        """Answer and ask for the volunteer's code."""
        logger.info("%s volunteer line", channel_id)
        if not await ari_request(channel_id, "answer", lambda: self.ari.answer(channel_id)):
            return
        state, commands = line.start(self.language)
        await self._run(channel_id, state, commands)

    async def handle(self, channel_id: str, event: CallEvent) -> bool:
        """One event of a volunteer-line call; False if the channel is not one."""
        raw = await self.redis.get(self.keys.login(channel_id))
        if raw is None:
            return False
        state = line.LoginState.from_dict(json.loads(raw))
        if state.step is line.Step.PIN:
            state = replace(state, digits=self._pins.get(channel_id, ""))
        match event:
            case ChannelDtmfReceived(digit=digit):
                step_event: line.Event = Digit(digit)
            case PlaybackFinished(playback_id=pid):
                step_event = PlaybackDone(machine_playback_id(pid))
            case TimerFired(timer=timer):
                step_event = MachineTimerFired(timer)
            case StasisEnd() | ChannelGone():
                step_event = HungUp()
            case _:
                return True
        state, commands = line.step(state, step_event)
        await self._run(channel_id, state, commands)
        return True

    async def _run(
        self, channel_id: str, state: line.LoginState, commands: list[line.Command]
    ) -> None:
        """Store the state, then carry out the commands (a check feeds its answer back)."""
        while True:
            if state.step is line.Step.PIN:
                self._pins[channel_id] = state.digits
            else:
                self._pins.pop(channel_id, None)
            key = self.keys.login(channel_id)
            if state.step is line.Step.DONE:
                self.timers.clear(channel_id)
                await self.redis.delete(key)
            else:
                await self.redis.set(key, json.dumps(state.to_dict()), ex=3600)
            answer = await self._execute(channel_id, commands)
            if answer is None:
                return
            state, commands = line.step(state, answer)

    async def _execute(self, channel_id: str, commands: list[line.Command]) -> line.Verified | None:
        answer = None
        for command in commands:
            if await carry_out_media(channel_id, command, self.ari, self.timers):
                continue
            match command:
                case line.Verify(agent_id=code, pin=pin):
                    answer = await self._verify(channel_id, code, pin)
                case line.LogIn(agent_id=code, queues=queues):
                    profile = self._by_code(code)
                    await self.store.login(profile.id, queues, profile.devices[0], self.clock())
                    logger.info(
                        "%s agent %s logged in by phone to %s", channel_id, profile.id, queues
                    )
                case line.LogOut(agent_id=code):
                    profile = self._by_code(code)
                    await self.store.logout(profile.id, self.clock())
                    logger.info("%s agent %s logged out by phone", channel_id, profile.id)
        return answer

    def _by_code(self, code: str) -> AgentProfile:
        return next(a for a in self.agents.values() if a.phone_code == code)

    async def _verify(self, channel_id: str, code: str, pin: str) -> line.Verified:
        """Who keyed ``code`` and ``pin``: refused, or logged in/out now (with their queues)."""
        profile = next((a for a in self.agents.values() if code and a.phone_code == code), None)
        if profile is None or not await asyncio.to_thread(verify_pin, profile, pin):
            logger.info("%s volunteer line: wrong code or PIN", channel_id)
            return line.Verified(line.Outcome.REFUSED)
        view = await self.store.agent(profile.id)
        if view is not None and view.state is not AgentState.LOGGED_OUT:
            return line.Verified(line.Outcome.WAS_LOGGED_IN, (profile.id,))
        return line.Verified(line.Outcome.WAS_LOGGED_OUT, profile.queues)
