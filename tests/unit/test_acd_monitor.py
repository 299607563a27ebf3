"""The supervisor's session on a call (``acd.monitor``): what each mode sets up and how every
way of ending takes down exactly what was set up."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acd.monitor import (
    BridgeTogether,
    CallGone,
    DestroyBridge,
    Failed,
    HangUp,
    JoinCall,
    Monitor,
    MonitorEvent,
    MonitorMode,
    MonitorPhase,
    Snoop,
    SnoopGone,
    SnoopStarted,
    SupervisorAnswered,
    SupervisorGone,
    Tell,
    monitor_key,
    monitor_step,
    session_of,
)


def session(mode: MonitorMode) -> Monitor:
    return Monitor(
        "s1", "call-1", "general", "bruno", "alice", "agent-7-alice", "bridge-call-1", mode, True
    )


def test_listen_snoops_on_the_caller_hearing_both_and_speaking_into_neither() -> None:
    monitor, commands = monitor_step(session(MonitorMode.LISTEN), SupervisorAnswered())
    assert monitor.phase is MonitorPhase.SNOOPING
    assert commands == [Snoop("call-1", "snoop-s1", "both", "none")]
    monitor, commands = monitor_step(monitor, SnoopStarted())
    assert monitor.phase is MonitorPhase.CONNECTED
    assert commands == [BridgeTogether("monitor-s1", ("monitor-s1", "snoop-s1")), Tell(True)]


def test_whisper_speaks_toward_the_volunteer_only() -> None:
    _, commands = monitor_step(session(MonitorMode.WHISPER), SupervisorAnswered())
    assert commands == [Snoop("agent-7-alice", "snoop-s1", "both", "out")]


def test_barge_joins_the_calls_own_bridge() -> None:
    monitor, commands = monitor_step(session(MonitorMode.BARGE), SupervisorAnswered())
    assert monitor.phase is MonitorPhase.CONNECTED
    assert commands == [JoinCall("bridge-call-1", "monitor-s1"), Tell(True)]


def test_the_supervisor_hanging_up_takes_the_snoop_and_its_bridge_away() -> None:
    monitor, _ = monitor_step(session(MonitorMode.LISTEN), SupervisorAnswered())
    monitor, _ = monitor_step(monitor, SnoopStarted())
    monitor, commands = monitor_step(monitor, SupervisorGone())
    assert monitor.phase is MonitorPhase.ENDED
    assert commands == [HangUp("snoop-s1"), DestroyBridge("monitor-s1"), Tell(False)]


def test_the_call_ending_hangs_up_a_barging_supervisor() -> None:
    monitor, _ = monitor_step(session(MonitorMode.BARGE), SupervisorAnswered())
    _, commands = monitor_step(monitor, CallGone())
    assert commands == [HangUp("monitor-s1"), Tell(False)]


def test_a_supervisor_who_never_answers_leaves_nothing_to_tell() -> None:
    monitor, commands = monitor_step(session(MonitorMode.LISTEN), SupervisorGone())
    assert monitor.phase is MonitorPhase.ENDED
    assert commands == []


EVENTS = st.sampled_from(
    [SupervisorAnswered(), SnoopStarted(), SupervisorGone(), SnoopGone(), CallGone(), Failed()]
)


@pytest.mark.parametrize("mode", list(MonitorMode))
@given(events=st.lists(EVENTS, max_size=8))
def test_any_order_of_events_tells_the_volunteer_on_and_off_in_pairs(
    mode: MonitorMode, events: list[MonitorEvent]
) -> None:
    """Whatever arrives, the volunteer is told "off" exactly once after each "on", nothing
    happens after the end, and the end never hangs up the channel that went."""
    monitor, told = session(mode), []
    for event in events:
        before = monitor.phase
        monitor, commands = monitor_step(monitor, event)
        if before is MonitorPhase.ENDED:
            assert commands == []
        told += [c.on for c in commands if isinstance(c, Tell)]
        if isinstance(event, SupervisorGone):
            assert HangUp("monitor-s1") not in commands
        if isinstance(event, SnoopGone):
            assert HangUp("snoop-s1") not in commands
    assert told in ([], [True], [True, False])
    if monitor.phase is MonitorPhase.ENDED:
        assert told != [True]


def test_a_sessions_channels_share_one_ordered_queue() -> None:
    assert monitor_key("snoop-s1") == monitor_key("monitor-s1") == "monitor-s1"
    assert monitor_key("agent-7-alice") == "agent-7-alice"
    assert session_of("snoop-s1") == session_of("monitor-s1") == "s1"
    assert session_of("call-1") is None


def test_a_session_survives_its_round_trip_through_redis() -> None:
    monitor = session(MonitorMode.WHISPER)
    assert Monitor.from_json(monitor.to_json()) == monitor
