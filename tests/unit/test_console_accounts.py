"""Console accounts from the agent file: their roles and the file's password hashes."""

from __future__ import annotations

import dataclasses

from acd.config import DEMO_AGENTS, load_agents
from console.accounts import password_matches
from hotline.console_desk import console_accounts


def test_the_demo_accounts_have_their_documented_passwords_and_roles() -> None:
    accounts = console_accounts(load_agents(DEMO_AGENTS))
    alice, dana = accounts.get("alice"), accounts.get("dana")
    assert alice is not None
    assert alice.role == "agent"
    assert password_matches(alice.password_hash, "alice-console")
    assert not password_matches(alice.password_hash, "dana-console")
    assert dana is not None
    assert dana.role == "supervisor"
    assert password_matches(dana.password_hash, "dana-console")
    gaby = accounts.get("gaby")
    assert gaby is not None
    assert gaby.role == "admin"
    assert password_matches(gaby.password_hash, "gaby-console")
    assert accounts.get("nobody") is None


def test_an_agent_without_a_password_hash_is_an_account_no_password_matches() -> None:
    profiles = load_agents(DEMO_AGENTS)
    accounts = console_accounts([dataclasses.replace(profiles[0], password_hash="")])
    alice = accounts.get("alice")
    assert alice is not None
    assert not password_matches(alice.password_hash, "")
    assert not password_matches(alice.password_hash, "alice-console")
