"""The reconciler's decisions: records against channels, over consecutive passes."""

from __future__ import annotations

from collections.abc import Iterable

from acd.recovery import Holding
from acd.routing import AgentState
from core.ari.events import Channel
from hotline.reconciler import Action, Assessment, Survey, adoption, assess, confirm

LEG = "agent-o7-alice"
RINGING = Holding("alice", AgentState.OFFERED, "c1", (LEG,), "o7")
TALKING = Holding("bruno", AgentState.ON_CALL, "c2", ("agent-o5-bruno", "c2"))
#: Alice calling a texter back: her leg and the texter's; the call's id is no channel.
TEXTER_LEGS = ("agent-txt1-alice", "callee-txt1")
TEXTING = Holding("alice", AgentState.ON_CALL, "txt1", TEXTER_LEGS, direct=True)
#: Her phone still rings: the texter is not dialled yet.
CALLING = Holding("alice", AgentState.ON_CALL, "txt1", TEXTER_LEGS[:1], direct=True)


def survey(
    live: Iterable[str],
    *,
    in_app: Iterable[str] | None = None,
    owned: Iterable[str] = (),
    holdings: tuple[Holding, ...] = (),
    handled: Iterable[str] = (),
    evented: Iterable[str] = (),
) -> Survey:
    return Survey(
        frozenset(live),
        frozenset(live if in_app is None else in_app),
        frozenset(owned),
        holdings,
        frozenset(handled),
        frozenset(evented),
    )


def test_an_owned_call_without_a_channel_is_gone_at_once() -> None:
    found = assess(survey({"c9"}, owned={"c1", "c9"}, handled={"c9"}), Assessment())
    assert found.gone == {"c1"}
    assert found.outlived_calls == frozenset()


def test_a_channel_that_sent_events_and_is_no_more_is_gone_at_once() -> None:
    # Alice's answered leg, whose caller's end freed her: no record names it any more.
    found = assess(survey({"c1"}, handled={LEG, "c1"}, evented={LEG, "c1"}), Assessment())
    assert found.gone == {LEG}


def test_a_call_that_ended_on_its_own_during_the_pass_is_not_repaired() -> None:
    # c1 hung up as the channels were listed: its end, handled meanwhile, removed its record.
    found = assess(survey(set(), owned={"c1", "c2"}, evented={"c3"}), Assessment())
    assert found.gone == {"c1", "c2", "c3"}
    assert confirm(found, Assessment(), recorded=frozenset({"c2"})).gone == {"c2"}


def test_a_leg_missing_on_two_passes_stays_gone_whatever_its_records_say() -> None:
    first = assess(survey(set(), holdings=(RINGING,)), Assessment())
    second = assess(survey(set(), holdings=(RINGING,)), first)
    assert confirm(second, first, recorded=frozenset()).gone == {LEG}
    third = assess(survey(set(), holdings=(RINGING,)), second)
    assert confirm(third, second, recorded=frozenset()).stuck == (RINGING,)


def test_a_volunteers_leg_is_gone_only_when_missing_on_two_passes() -> None:
    # Just offered: the leg may not be rung yet.
    first = assess(survey(set(), holdings=(RINGING,)), Assessment())
    assert first.gone == frozenset()
    assert first.missing == {LEG}
    second = assess(survey(set(), holdings=(RINGING,)), first)
    assert second.gone == {LEG}
    assert second.stuck == ()
    # Still held on the pass after its machine heard of it: freed in the store.
    third = assess(survey(set(), holdings=(RINGING,)), second)
    assert third.stuck == (RINGING,)


def test_a_leg_that_showed_up_meanwhile_is_not_gone() -> None:
    first = assess(survey(set(), holdings=(RINGING,), handled={LEG}), Assessment())
    second = assess(survey({LEG}, holdings=(RINGING,), handled={LEG}), first)
    assert second.gone == frozenset()
    assert second.outlived_legs == frozenset()


def test_a_talking_volunteer_whose_caller_vanished_is_freed_through_the_callers_end() -> None:
    live = {"agent-o5-bruno"}
    first = assess(survey(live, owned={"c2"}, holdings=(TALKING,)), Assessment())
    assert first.gone == {"c2"}  # owned: at once
    assert first.outlived_legs == {"agent-o5-bruno"}  # nobody here rang it
    second = assess(survey(live, owned={"c2"}, holdings=(TALKING,)), first)
    assert second.stuck == (TALKING,)


def test_a_live_call_to_a_texter_is_never_taken_for_gone() -> None:
    before = Assessment()
    for holding in (CALLING, TEXTING, TEXTING, TEXTING):
        found = assess(survey(holding.channels, holdings=(holding,), handled=TEXTER_LEGS), before)
        assert found.gone == frozenset()
        assert found.stuck == ()
        assert found.missing == frozenset()
        assert found.unrecorded == frozenset()
        before = found


def test_a_call_to_a_texter_whose_channels_are_gone_frees_its_volunteer() -> None:
    # The app was killed: a new process sees neither leg, and handled none of them.
    first = assess(survey(set(), holdings=(TEXTING,)), Assessment())
    assert (first.gone, first.stuck) == (frozenset(), ())
    second = assess(survey(set(), holdings=(TEXTING,)), first)
    assert confirm(second, first, recorded=frozenset()).gone == set(TEXTER_LEGS)
    third = assess(survey(set(), holdings=(TEXTING,)), second)
    assert confirm(third, second, recorded=frozenset()).stuck == (TEXTING,)


def test_a_texter_who_hung_up_while_the_app_was_down_ends_the_call_for_the_volunteer() -> None:
    # Alice's leg is still up (alone in the bridge); the texter's is gone.
    alice_leg, texter_leg = TEXTER_LEGS
    first = assess(survey({alice_leg}, holdings=(TEXTING,)), Assessment())
    assert first.outlived_legs == {alice_leg}
    assert (first.gone, first.missing) == (frozenset(), frozenset({texter_leg}))
    second = assess(survey({alice_leg}, holdings=(TEXTING,), handled={alice_leg}), first)
    assert confirm(second, first, recorded=frozenset()).gone == {texter_leg}  # its machine ends it
    third = assess(survey({alice_leg}, holdings=(TEXTING,), handled={alice_leg}), second)
    assert third.stuck == (TEXTING,)  # freed in the store if still held


def test_a_call_to_a_texter_that_outlived_its_process_goes_on() -> None:
    found = assess(survey(TEXTER_LEGS, holdings=(TEXTING,)), Assessment())
    assert found.outlived_legs == set(TEXTER_LEGS)  # their records are resumed, not ended
    assert (found.gone, found.stuck) == (frozenset(), ())


def test_records_that_outlived_their_process_are_resumed() -> None:
    found = assess(
        survey({"c1", LEG, "c3"}, owned={"c1", "c3"}, holdings=(RINGING,), handled={"c3"}),
        Assessment(),
    )
    assert found.outlived_calls == {"c1"}
    assert found.outlived_legs == {LEG}
    assert found.gone == frozenset()


def test_an_unrecorded_channel_of_the_app_is_adopted_on_the_second_pass_only() -> None:
    live = {"c1", "x"}
    first = assess(survey(live, in_app={"c1"}, owned=set()), Assessment())
    assert first.unrecorded == frozenset()
    assert first.strangers == {"c1"}  # "x" belongs to another app
    second = assess(survey(live, in_app={"c1"}), first)
    assert second.unrecorded == {"c1"}
    # Handled meanwhile by this process (its StasisStart arrived): not a stranger.
    third = assess(survey(live, in_app={"c1"}, handled={"c1"}), first)
    assert third.unrecorded == frozenset()


def channel(channel_id: str, context: str, exten: str) -> Channel:
    return Channel(channel_id, "PJSIP/x", "Up", "", "", exten, "en", context)


def test_adoption_restarts_callers_where_their_calls_start() -> None:
    inbound = adoption(channel("c1", "hotline-inbound", "+18005550100"), 0, "18005550199")
    assert (inbound.action, inbound.args) == (Action.RESTART, ("inbound", "+18005550100"))
    line = adoption(channel("c2", "from-carrier", "18005550199"), 0, "18005550199")
    assert (line.action, line.args) == (Action.RESTART, ("volunteer",))
    other = adoption(channel("c3", "elsewhere", "42"), 0, "18005550199")
    assert other.action is Action.FALLBACK


def test_adoption_hangs_up_legs_and_lonely_parties_and_keeps_talking_ones() -> None:
    assert adoption(channel(LEG, "default", "s"), 0, "1").action is Action.HANG_UP
    assert adoption(channel("c1", "hotline-inbound", "+1"), 1, "1").action is Action.HANG_UP
    assert adoption(channel("c1", "hotline-inbound", "+1"), 2, "1").action is Action.KEEP
