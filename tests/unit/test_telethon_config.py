"""The campaign file is found from ``[pledges] campaigns`` and checked at start against the
ACD's queues: ``hotline check-config`` names the campaigns, or the mistake with exit code 2;
with campaigns, the app serves every pledges route."""

import dataclasses
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from cryptography.fernet import Fernet

from acd.config import DEMO_QUEUES, load_queues
from core.config import PledgesSettings, load_settings
from hotline.cli import main
from hotline.telethon import Telethon, load_telethon, with_campaign_languages
from ivr.flow import DEMO_FLOW, load_flow
from pledges.campaigns import DEMO_CAMPAIGNS, CampaignError, load_campaigns
from records.service import RecordsService

QUEUES = load_queues(DEMO_QUEUES)  # general, support-fr, crisis, telethon


def config_file(tmp_path: Path, queue: str) -> Path:
    tmp_path.mkdir(exist_ok=True)
    campaigns = DEMO_CAMPAIGNS.read_text(encoding="utf-8").replace(
        'queue = "telethon"', f'queue = "{queue}"'
    )
    (tmp_path / "campaigns.toml").write_text(campaigns, encoding="utf-8")
    path = tmp_path / "hotline.toml"
    path.write_text('[pledges]\ncampaigns = "campaigns.toml"\n', encoding="utf-8")
    return path


def test_no_campaign_file_means_no_telethon() -> None:
    assert load_settings(None, env={}).pledges.campaigns == ""
    assert load_telethon(PledgesSettings(), QUEUES) == {}


def test_the_file_is_taken_from_the_configuration_directory(tmp_path: Path) -> None:
    settings = load_settings(config_file(tmp_path, "general"), env={})
    assert settings.pledges.campaigns == str(tmp_path.resolve() / "campaigns.toml")
    assert list(load_telethon(settings.pledges, QUEUES)) == ["demo-telethon"]


def test_a_campaign_needs_an_existing_queue(tmp_path: Path) -> None:
    assert list(load_telethon(PledgesSettings(campaigns=str(DEMO_CAMPAIGNS)), QUEUES)) == [
        "demo-telethon"
    ]
    settings = load_settings(config_file(tmp_path, "studio"), env={})
    with pytest.raises(CampaignError, match="queue 'studio' is not an ACD queue"):
        load_telethon(settings.pledges, QUEUES)


def test_check_config_names_the_campaigns_or_the_mistake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = config_file(tmp_path / "good", "general")
    assert main(["--config", str(good), "check-config"]) == 0
    assert "ok: campaigns " in capsys.readouterr().out
    bad = config_file(tmp_path / "bad", "studio")
    assert main(["--config", str(bad), "check-config"]) == 2
    assert "campaign 'demo-telethon': queue 'studio' is not an ACD queue" in capsys.readouterr().err


class NoTexts:
    """Callers and texts the routes are built with (none is reached here)."""

    async def caller_ref(self, call_id: str) -> str | None:
        raise AssertionError(call_id)

    async def send_text(self, to_ref: str, body: str, *, language: str, key: str) -> str:
        raise AssertionError(key)

    async def send_again(self, first_key: str, body: str, *, language: str, key: str) -> str:
        raise AssertionError(key)


async def test_the_app_serves_every_pledges_route(tmp_path: Path) -> None:
    env = {
        "HOTLINE_VAULT_KEYS": Fernet.generate_key().decode(),
        "HOTLINE_STRIPE_API_KEY": "sk_test_x",
        "HOTLINE_STRIPE_WEBHOOK_SECRET": "whsec_x",
    }
    settings = load_settings(config_file(tmp_path, "general"), env=env)
    campaigns = load_telethon(settings.pledges, QUEUES)
    redis = aioredis.Redis()  # never connected: building routes reaches nothing
    records = RecordsService(settings, redis, {})
    telethon = Telethon(settings, campaigns, records, NoTexts(), NoTexts())
    try:
        served = {(route.method, route.path) for route in telethon.routes()}
    finally:
        await telethon.close()
        await records.close()
        await redis.aclose()
    assert served == {
        ("GET", "/acd/calls/{call_id}/pledge-form"),
        ("POST", "/acd/calls/{call_id}/pledges"),
        ("PUT", "/pledges/{pledge_id}"),
        ("GET", "/pledges/{pledge_id}"),
        ("POST", "/pledges/{pledge_id}/link"),
        ("POST", "/pledges/{pledge_id}/cancel"),
        ("POST", "/pledges/webhooks/stripe"),
        ("GET", "/tote/{campaign}"),
        ("GET", "/tote/{campaign}/board.json"),
        ("GET", "/tote/{campaign}/events"),
        ("GET", "/reports/pledges"),
        ("GET", "/on-air/{campaign}"),
        ("POST", "/on-air/{campaign}/{pledge_id}/read"),
    }
    assert Telethon(settings, {}, records, NoTexts(), NoTexts()).routes() == []


def test_a_campaigns_language_is_its_lines_in_the_flow() -> None:
    flow = load_flow(DEMO_FLOW)
    campaigns = load_campaigns(DEMO_CAMPAIGNS)
    (did,) = campaigns["demo-telethon"].dids
    assert with_campaign_languages(flow, campaigns).language_of(did) == flow.default_language
    french = {name: dataclasses.replace(c, language="fr") for name, c in campaigns.items()}
    assert with_campaign_languages(flow, french).language_of(did) == "fr"
    assert with_campaign_languages(flow, french).language_of("+18005550100") == "en"
