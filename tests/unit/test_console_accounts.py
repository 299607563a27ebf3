"""Console accounts from the agent file: who can sign in, with which password and role."""

from __future__ import annotations

import dataclasses

from acd.config import DEMO_AGENTS, load_agents
from hotline.console_desk import console_accounts


def test_the_demo_accounts_sign_in_with_their_documented_passwords() -> None:
    accounts = console_accounts(load_agents(DEMO_AGENTS))
    alice, dana = accounts.verify("alice", "alice-console"), accounts.verify("dana", "dana-console")
    assert alice is not None
    assert alice.role == "agent"
    assert dana is not None
    assert dana.role == "supervisor"
    assert accounts.verify("alice", "dana-console") is None
    assert accounts.verify("nobody", "alice-console") is None


def test_an_agent_without_a_password_hash_cannot_sign_in() -> None:
    profiles = load_agents(DEMO_AGENTS)
    accounts = console_accounts([dataclasses.replace(profiles[0], password_hash="")])
    assert accounts.get("alice") is None
    assert accounts.verify("alice", "alice-console") is None
