"""The campaign file is found from ``[pledges] campaigns`` and checked at start against the
ACD's queues: ``hotline check-config`` names the campaigns, or the mistake with exit code 2."""

from pathlib import Path

import pytest

from acd.config import DEMO_QUEUES, load_queues
from core.config import PledgesSettings, load_settings
from hotline.cli import main
from hotline.telethon import load_telethon
from pledges.campaigns import DEMO_CAMPAIGNS, CampaignError

QUEUES = load_queues(DEMO_QUEUES)  # general, support-fr, crisis: no "telethon" queue


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


def test_a_campaign_needs_an_existing_queue() -> None:
    with pytest.raises(CampaignError, match="queue 'telethon' is not an ACD queue"):
        load_telethon(PledgesSettings(campaigns=str(DEMO_CAMPAIGNS)), QUEUES)


def test_check_config_names_the_campaigns_or_the_mistake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = config_file(tmp_path / "good", "general")
    assert main(["--config", str(good), "check-config"]) == 0
    assert "ok: campaigns " in capsys.readouterr().out
    bad = config_file(tmp_path / "bad", "studio")
    assert main(["--config", str(bad), "check-config"]) == 2
    assert "campaign 'demo-telethon': queue 'studio' is not an ACD queue" in capsys.readouterr().err
