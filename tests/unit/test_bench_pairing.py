"""bench.telethon pairs each caller's INVITE with the CONNECT of its call by time order (the
queue log names no caller): a caller who never reached an operator is skipped once the next
CONNECT is further than ``within`` from their INVITE."""

from __future__ import annotations

import pytest

from bench.telethon_calls import pair_in_order


def test_calls_that_connected_in_order_pair_one_to_one() -> None:
    sent = [10.0, 10.05, 10.1]
    connected = [10.12, 10.02, 10.07]  # as read, not sorted
    assert pair_in_order(sent, connected, within=5) == pytest.approx([0.02, 0.02, 0.02])


def test_a_lost_call_is_skipped_and_the_next_ones_pair_with_their_own() -> None:
    sent = [10.0, 20.0, 30.0]
    # The first caller was lost; the second connected at once, the third 0.5 s later.
    assert pair_in_order(sent, [20.01, 30.5], within=5) == pytest.approx([0.01, 0.5])


def test_a_connect_before_any_invite_of_the_trial_is_nobody_s() -> None:
    assert pair_in_order([10.0], [9.0, 10.2], within=5) == pytest.approx([0.2])
