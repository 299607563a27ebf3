"""``hotline demo``'s configuration: the shipped hotline.toml with the demo's environment runs
the demo telethon on its own line, which Asterisk answers and the IVR sends straight to the
campaign's nailed-up operators, who sign in to the console; the demo says where the tote board
is."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from acd.config import load_agents, load_queues
from console.accounts import password_matches
from core.config import PROJECT_DIR, load_settings
from hotline.console_desk import console_accounts
from hotline.demo import demo_environment, telethon_banner, with_campaign_lines
from hotline.dialplans import did_lines
from hotline.telethon import load_telethon
from ivr import machine
from ivr.flow import QueueNode, load_flow

HELPLINE, TELETHON = "+18005550100", "+18005550177"


def test_the_demo_runs_its_telethon_on_its_own_line_with_its_operators(tmp_path: Path) -> None:
    env = demo_environment(tmp_path, "demo-token-0123456789")
    settings = load_settings(PROJECT_DIR / "hotline.toml", env=env)
    settings.require_secrets()  # the campaign's payment secrets included
    queues = load_queues(settings.acd.queues)
    campaigns = load_telethon(settings.pledges, queues)
    assert list(campaigns) == ["demo-telethon"]
    campaign = campaigns["demo-telethon"]
    assert campaign.dids == (TELETHON,)

    settings = with_campaign_lines(settings, campaigns.values())
    assert settings.asterisk.dids == (HELPLINE, TELETHON)
    assert f"exten => {TELETHON},1,Goto(hotline-inbound,{TELETHON},1)" in did_lines(
        settings.asterisk.dids
    )
    flow = load_flow(settings.ivr.flow, languages=settings.ivr.languages)
    now = datetime.now(UTC)
    telethon, _ = machine.start(flow, now, TELETHON)
    assert flow.nodes[telethon.node] == QueueNode("to_telethon", campaign.queue)
    assert machine.start(flow, now, HELPLINE)[0].node == "language"  # hours, then language

    agents = load_agents(settings.acd.agents, queues)
    operators = [a for a in agents if campaign.queue in a.queues]
    assert [a.id for a in operators] == ["erin", "farid"]
    assert all(a.nailed_up and a.auto_answer and a.role == "agent" for a in operators)
    accounts = console_accounts(agents)
    for operator in operators:
        account = accounts.get(operator.id)
        assert account is not None
        assert password_matches(account.password_hash, f"{operator.id}-console")

    banner = telethon_banner(campaigns, agents, "127.0.0.1:5060", "http://127.0.0.1:8080")
    assert "http://127.0.0.1:8080/tote/demo-telethon\n" in banner
    assert "sip:18005550177@127.0.0.1:5060" in banner
    assert "erin / erin-console, farid / farid-console" in banner


def test_without_campaigns_the_demo_tells_nothing_of_a_telethon() -> None:
    assert telethon_banner({}, [], "127.0.0.1:5060", "http://127.0.0.1:8080") == ""
