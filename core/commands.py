"""What a call's pure state machine (the IVR's, the volunteer line's, the ACD's) takes and
gives that is not particular to it: the caller's input events, the prompt, music, timer and
hang-up commands, and the one executor that carries those commands out over ARI.

Playback and timer ids are per call in a machine ("p1", "t2", ...) and global in Asterisk:
``ari_playback_id`` prefixes the channel, ``machine_playback_id`` takes it off.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from core.ari import AriClient
from core.calls import ChannelTimers, ari_request


@dataclass(frozen=True)
class PlaybackDone:
    """A playback finished (or was stopped)."""

    playback_id: str


@dataclass(frozen=True)
class Digit:
    """The caller pressed a DTMF key."""

    digit: str


@dataclass(frozen=True)
class TimerFired:
    """A timer started with ``StartTimer`` expired."""

    timer: str


@dataclass(frozen=True)
class HungUp:
    """The caller hung up."""


@dataclass(frozen=True)
class Play:
    """Play media (ARI URIs such as "sound:hello-world") in ``language`` (None: the
    channel's)."""

    playback_id: str
    media: tuple[str, ...]
    language: str | None = None


@dataclass(frozen=True)
class StopPlayback:
    """Stop a playback; its PlaybackDone will then be stale."""

    playback_id: str


@dataclass(frozen=True)
class StartTimer:
    """Report ``TimerFired(timer)`` after ``seconds``."""

    timer: str
    seconds: float


@dataclass(frozen=True)
class CancelTimer:
    """Cancel a pending timer."""

    timer: str


@dataclass(frozen=True)
class ClearTimers:
    """Cancel every timer of the call."""


@dataclass(frozen=True)
class StartMusic:
    """Play hold music of ``moh_class`` until ``StopMusic``."""

    moh_class: str


@dataclass(frozen=True)
class StopMusic:
    """Stop hold music (nothing if none plays)."""


@dataclass(frozen=True)
class Hangup:
    """Hang up the call (it may be gone already); its timers stop."""


#: The commands ``carry_out_media`` carries out.
ChannelCommand = (
    Play | StopPlayback | StartTimer | CancelTimer | ClearTimers | StartMusic | StopMusic | Hangup
)


def ari_playback_id(channel_id: str, playback_id: str) -> str:
    """Playback ids are per call in the machine and global in Asterisk: prefix the channel."""
    return f"{channel_id}:{playback_id}"


def machine_playback_id(ari_id: str) -> str:
    """Inverse of ``ari_playback_id``: the machine's id of an ARI playback."""
    return ari_id.rpartition(":")[2]


async def carry_out_media(
    channel_id: str, command: object, ari: AriClient, timers: ChannelTimers
) -> bool:
    """Carry out a prompt, music, timer or hang-up command (``ChannelCommand``) of a call's
    state machine on ``channel_id``; False if ``command`` is none of those (the caller handles
    it)."""
    match command:
        case Play(playback_id=pid, media=media, language=lang):
            ari_id = ari_playback_id(channel_id, pid)
            play = functools.partial(ari.play, channel_id, media, playback_id=ari_id, lang=lang)
            await ari_request(channel_id, "play", play)
        case StopPlayback(playback_id=pid):
            stop = functools.partial(ari.stop_playback, ari_playback_id(channel_id, pid))
            await ari_request(channel_id, "stop", stop)
        case StartTimer(timer=timer, seconds=seconds):
            timers.start(channel_id, timer, seconds)
        case CancelTimer(timer=timer):
            timers.cancel(channel_id, timer)
        case ClearTimers():
            timers.clear(channel_id)
        case StartMusic(moh_class=moh):
            music = functools.partial(ari.start_moh, channel_id, moh)
            await ari_request(channel_id, "hold music", music)
        case StopMusic():
            await ari_request(channel_id, "stop music", functools.partial(ari.stop_moh, channel_id))
        case Hangup():
            timers.clear(channel_id)
            await ari_request(channel_id, "hangup", functools.partial(ari.hangup, channel_id))
        case _:
            return False
    return True
