"""What ``hotline demo`` sets up besides its servers: the environment it runs with (fresh
secrets, the demo telethon's campaign), the campaign's own line among those Asterisk answers,
and what it tells the person trying it about the telethon (its line, its operators' logins,
the tote board's address)."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

from cryptography.fernet import Fernet

from acd.config import AgentProfile
from core.config import Settings
from pledges.campaigns import DEMO_CAMPAIGNS, Campaign

#: The Stripe secrets the demo starts with unless given real test keys: the app starts, and
#: payment links fail (502 payment-provider-error) until HOTLINE_STRIPE_API_KEY is a test key.
DEMO_STRIPE_KEY = "sk_test_demo_not_a_key"
DEMO_WEBHOOK_SECRET = "whsec_demo_not_a_secret"


def demo_environment(root: Path, api_token: str) -> dict[str, str]:
    """The ``HOTLINE_*`` variables the demo sets when they are not set already: fresh secrets,
    the phones' secrets file under ``root``, and the demo campaign file."""
    return {
        "HOTLINE_ARI_PASSWORD": secrets.token_urlsafe(16),
        "HOTLINE_HASH_KEY": secrets.token_urlsafe(24),
        "HOTLINE_VAULT_KEYS": Fernet.generate_key().decode(),
        "HOTLINE_API_TOKENS": f"demo:supervisor:{api_token}",
        "HOTLINE_PHONES_SECRETS_FILE": str(root / "phone-secrets.toml"),
        "HOTLINE_PLEDGES_CAMPAIGNS": str(DEMO_CAMPAIGNS),
        "HOTLINE_STRIPE_API_KEY": DEMO_STRIPE_KEY,
        "HOTLINE_STRIPE_WEBHOOK_SECRET": DEMO_WEBHOOK_SECRET,
    }


def with_campaign_lines(settings: Settings, campaigns: Iterable[Campaign]) -> Settings:
    """``settings`` with every campaign's numbers among the lines Asterisk answers."""
    lines = [*settings.asterisk.dids, *(did for c in campaigns for did in c.dids)]
    asterisk = dataclasses.replace(settings.asterisk, dids=tuple(dict.fromkeys(lines)))
    return dataclasses.replace(settings, asterisk=asterisk)


def telethon_banner(
    campaigns: Mapping[str, Campaign], agents: Iterable[AgentProfile], sip: str, api: str
) -> str:
    """Lines telling how to call each campaign, who answers (the demo's console passwords are
    NAME-console) and where its tote board is."""
    out = []
    for campaign in campaigns.values():
        operators = [a.id for a in agents if campaign.queue in a.queues]
        logins = ", ".join(f"{name} / {name}-console" for name in operators)
        out += [
            f"  Telethon '{campaign.title}': call sip:{campaign.dids[0].lstrip('+')}@{sip}, its",
            f"  own line, answered by its nailed-up operators ({logins}: sign in to the",
            "  console and go available with an auto-answering phone registered); the pledge",
            "  form opens on their screen. Tote board for the studio screen:",
            f"    {api}/tote/{campaign.name}",
        ]
    if campaigns:
        out.append(
            "  Payment links need a Stripe test key (HOTLINE_STRIPE_API_KEY, "
            "HOTLINE_STRIPE_WEBHOOK_SECRET)."
        )
    return "".join(line + "\n" for line in out)
