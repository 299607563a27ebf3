"""The tote board's figures from the sums: progress toward the goal and milestones reached."""

import dataclasses

from pledges.campaigns import DEMO_CAMPAIGNS, load_campaigns
from pledges.tote import Sums, board

CAMPAIGN = load_campaigns(DEMO_CAMPAIGNS)["demo-telethon"]  # goal 50,000; 10k, 25k, 40k


def test_milestones_are_reached_by_the_pledged_total() -> None:
    empty = board(CAMPAIGN, Sums())
    assert (empty.pledged, empty.reached, empty.progress) == (0, (), 0.0)
    found = board(CAMPAIGN, Sums(pledged=2_500_000, paid=100, count=3, pace_amount=7))
    assert found.reached == (1_000_000, 2_500_000)
    assert (found.progress, found.paid, found.count, found.pace_amount) == (50.0, 100, 3, 7)
    assert found.to_dict()["milestones"] == [1_000_000, 2_500_000, 4_000_000]


def test_a_campaign_without_a_goal_shows_no_progress() -> None:
    no_goal = dataclasses.replace(CAMPAIGN, goal=0, milestones=())
    assert board(no_goal, Sums(pledged=500)).progress == 0.0
