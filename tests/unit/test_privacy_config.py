"""The [privacy] settings and the vault's keys (HOTLINE_VAULT_KEYS)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from core.config import PROJECT_DIR, ConfigError, PrivacySettings, load_settings


def test_defaults_file_and_environment(tmp_path: Path) -> None:
    assert load_settings(None, env={}).privacy == PrivacySettings(True, "CA", 90)
    path = tmp_path / "hotline.toml"
    path.write_text('[privacy]\nmask_numbers = false\ndefault_region = "FR"\n', encoding="utf-8")
    settings = load_settings(path, env={"HOTLINE_PRIVACY_RETENTION_DAYS": "30"})
    assert settings.privacy == PrivacySettings(False, "FR", 30)


def test_shipped_file_documents_the_privacy_section() -> None:
    shipped = PROJECT_DIR / "hotline.toml"
    assert load_settings(shipped, env={}).privacy == PrivacySettings()
    assert "HOTLINE_VAULT_KEYS" in shipped.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HOTLINE_PRIVACY_DEFAULT_REGION": "XX"}, "default_region: unknown region 'XX'"),
        ({"HOTLINE_PRIVACY_RETENTION_DAYS": "0"}, "retention_days: must be at least 1"),
        ({"HOTLINE_PRIVACY_MASK_NUMBERS": "maybe"}, "HOTLINE_PRIVACY_MASK_NUMBERS: expected bool"),
    ],
)
def test_bad_privacy_settings(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(None, env=env)


def test_vault_keys_come_from_the_environment_newest_first() -> None:
    new, old = Fernet.generate_key(), Fernet.generate_key()
    settings = load_settings(None, env={"HOTLINE_VAULT_KEYS": f" {new.decode()}, {old.decode()},"})
    assert settings.secrets.vault_keys == (new, old)
    assert new.decode() not in repr(settings)
    assert load_settings(None, env={}).secrets.vault_keys == ()


def test_a_bad_vault_key_is_named_by_position_not_shown() -> None:
    good, bad = Fernet.generate_key().decode(), "not-a-fernet-key-but-a-secret"
    with pytest.raises(
        ConfigError, match="HOTLINE_VAULT_KEYS: key 2 is not a Fernet key"
    ) as caught:
        load_settings(None, env={"HOTLINE_VAULT_KEYS": f"{good},{bad}"})
    assert bad not in str(caught.value)
    assert good not in str(caught.value)
