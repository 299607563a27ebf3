"""Campaign files: the demo loads, amounts become minor units, and each mistake is refused with
the file and the campaign named."""

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from pledges.campaigns import (
    DEMO_CAMPAIGNS,
    CampaignError,
    Provider,
    ReceiptRule,
    load_campaigns,
    parse_campaigns,
)

DEMO: dict[str, Any] = tomllib.loads(DEMO_CAMPAIGNS.read_text(encoding="utf-8"))


def with_change(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(DEMO)
    table = data["campaigns"]["demo-telethon"]
    for key, value in changes.items():
        if value is None:
            del table[key]
        else:
            table[key] = value
    return data


def test_the_demo_campaign_loads_in_minor_units() -> None:
    campaign = load_campaigns(DEMO_CAMPAIGNS)["demo-telethon"]
    assert campaign.dids == ("+18005550177",)
    assert (campaign.currency, campaign.queue) == ("EUR", "telethon")
    assert (campaign.minimum, campaign.maximum, campaign.goal) == (500, 500_000, 5_000_000)
    assert campaign.presets == (2000, 5000, 10_000)
    assert campaign.milestones == (1_000_000, 2_500_000, 4_000_000)
    assert (campaign.one_off, campaign.monthly) == (True, True)
    assert campaign.provider is Provider.STRIPE
    assert campaign.receipt is ReceiptRule.NAME_AND_ADDRESS
    assert "{link}" in campaign.sms_templates["fr"]
    assert (campaign.reminders, campaign.reminder_every_s) == (2, 24 * 3600)
    assert "{link}" in campaign.reminder_templates["en"]


def test_decimal_amounts_keep_their_cents() -> None:
    campaigns = parse_campaigns(with_change(minimum=2.5, presets=[12.75]), source="c.toml")
    assert (campaigns["demo-telethon"].minimum, campaigns["demo-telethon"].presets) == (
        250, (1275,)
    )  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"minimum": 0}, "'minimum' must be above 0 and at most 'maximum'"),
        ({"minimum": 6000}, "'minimum' must be above 0 and at most 'maximum'"),
        ({"minimum": 1.005}, "'minimum' must have two decimals at most"),
        ({"maximum": "lots"}, "'maximum' must be an amount of 0 or more"),
        ({"presets": [1]}, "preset 1.00 lies outside 'minimum'..'maximum'"),
        ({"milestones": [20000, 10000]}, "'milestones' must rise strictly and stay within"),
        ({"milestones": [60000]}, "'milestones' must rise strictly and stay within"),
        ({"one_off": False, "monthly": False}, "must allow one-off or monthly gifts"),
        ({"dids": []}, "'dids' must name at least one DID"),
        ({"dids": ["0800 555"]}, "'dids' items must be strings matching"),
        ({"currency": "eur"}, "'currency' must be a string matching"),
        ({"provider": "paypal"}, "'provider' must be one of stripe"),
        ({"receipt": "always"}, "'receipt' must be one of none, name_and_address"),
        ({"queue": None}, "missing required key 'queue'"),
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"sms": {"en": "{link}"}}, "'sms' must be a table of exactly en, fr templates"),
        ({"sms": {"en": "pay", "fr": "{link}"}}, "sms template 'en' must hold {link} exactly"),
        ({"sms": {"en": "{link} {name}", "fr": "{link}"}}, "may hold no field but {link}"),
        ({"sms": {"en": "x" * 1201 + "{link}", "fr": "{link}"}}, "longer than 1200 characters"),
        ({"reminders": 6}, "'reminders' must be an integer from 0 to 5"),
        ({"reminder_every_h": 0}, "'reminder_every_h' must be a number of hours above 0"),
        ({"reminder_sms": None}, "'reminders' needs a 'reminder_sms' table"),
        ({"reminder_sms": {"en": "{link}", "fr": "x"}}, "reminder_sms template 'fr' must hold"),
        ({"language": "de"}, "'language' must be one of en, fr"),
    ],
)
def test_mistakes_are_refused_naming_file_and_campaign(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(CampaignError) as refused:
        parse_campaigns(with_change(**changes), source="c.toml")
    assert str(refused.value).startswith("c.toml: campaign 'demo-telethon': ")
    assert message in str(refused.value)


def test_a_did_belongs_to_one_campaign() -> None:
    data = copy.deepcopy(DEMO)
    data["campaigns"]["second"] = copy.deepcopy(data["campaigns"]["demo-telethon"])
    with pytest.raises(CampaignError, match=r"DID \+18005550177 already belongs to campaign"):
        parse_campaigns(data, source="c.toml")


def test_a_file_without_campaigns_or_unreadable_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CampaignError, match=r"expected only \[campaigns\.NAME\] tables"):
        parse_campaigns({"queues": {}}, source="c.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[campaigns", encoding="utf-8")
    with pytest.raises(CampaignError, match=r"broken\.toml: invalid TOML"):
        load_campaigns(broken)
    with pytest.raises(CampaignError, match="cannot read"):
        load_campaigns(tmp_path / "missing.toml")


def test_a_campaign_may_name_its_callers_language() -> None:
    campaign = parse_campaigns(with_change(language="fr"), source="c.toml")["demo-telethon"]
    assert campaign.language == "fr"
    assert parse_campaigns(DEMO, source="c.toml")["demo-telethon"].language == ""
