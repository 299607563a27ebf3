"""Layered configuration: defaults < file < environment; secrets only from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from core.config import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hotline.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_then_file_then_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[ari]\nurl = "http://10.0.0.5:8088"\napp = "from-file"\n')
    settings = load_settings(path, env={"HOTLINE_ARI_APP": "from-env"})
    assert settings.ari.url == "http://10.0.0.5:8088"
    assert settings.ari.app == "from-env"
    assert settings.redis.prefix == "hotline"


def test_environment_values_are_typed(tmp_path: Path) -> None:
    env = {
        "HOTLINE_ASTERISK_SIP_PORT": "5070",
        "HOTLINE_ASTERISK_DIDS": "+18005550100, +18005550111",
        "HOTLINE_ACD_CONFIRM_TIMEOUT_S": "2.5",
    }
    settings = load_settings(None, env=env)
    assert settings.asterisk.sip_port == 5070
    assert settings.asterisk.dids == ("+18005550100", "+18005550111")
    assert settings.acd.confirm_timeout_s == 2.5


def test_bad_values_name_where_they_come_from(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="HOTLINE_ASTERISK_SIP_PORT: expected int"):
        load_settings(None, env={"HOTLINE_ASTERISK_SIP_PORT": "fifty"})
    path = write(tmp_path, "[asterisk]\nsip_prot = 5060\n")
    with pytest.raises(ConfigError, match=r"\[asterisk\] unknown key\(s\): sip_prot"):
        load_settings(path, env={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[ari\n"), env={})
    with pytest.raises(ConfigError, match=r"\[console\] time_zone: unknown 'Mars/Olympus'"):
        load_settings(None, env={"HOTLINE_CONSOLE_TIME_ZONE": "Mars/Olympus"})
    montreal = load_settings(None, env={"HOTLINE_CONSOLE_TIME_ZONE": "America/Montreal"})
    assert montreal.console.time_zone == "America/Montreal"


def test_secrets_come_only_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[secrets]\nari_password = "oops"\n')
    with pytest.raises(ConfigError, match="secrets come from the environment only"):
        load_settings(path, env={})
    env = {
        "HOTLINE_ARI_PASSWORD": "pw-123",
        "HOTLINE_HASH_KEY": "k" * 20,
        "HOTLINE_VAULT_KEYS": Fernet.generate_key().decode(),
    }
    settings = load_settings(None, env=env)
    settings.require_secrets()
    assert "pw-123" not in repr(settings)
    with pytest.raises(ConfigError, match="HOTLINE_ARI_PASSWORD"):
        load_settings(None, env={}).require_secrets()


def test_relative_flow_path_is_taken_from_the_config_file_directory(tmp_path: Path) -> None:
    path = write(tmp_path, '[ivr]\nflow = "flows/main.toml"\n')
    assert load_settings(path, env={}).ivr.flow == tmp_path / "flows" / "main.toml"


def test_sentinels_come_from_the_environment_and_are_checked() -> None:
    env = {"HOTLINE_REDIS_SENTINELS": "10.0.0.1:26379,10.0.0.2:26379,[::1]:26380"}
    redis = load_settings(None, env=env).redis
    assert redis.sentinel_addresses() == [
        ("10.0.0.1", 26379),
        ("10.0.0.2", 26379),
        ("::1", 26380),
    ]
    assert redis.where == (
        "the primary 'hotline' of Sentinels 10.0.0.1:26379, 10.0.0.2:26379, [::1]:26380"
    )
    for bad in ("10.0.0.1", "10.0.0.1:", "10.0.0.1:redis", ":26379", "h:70000"):
        with pytest.raises(ConfigError, match="not host:port"):
            load_settings(None, env={"HOTLINE_REDIS_SENTINELS": bad})


def test_where_redis_is_never_shows_the_urls_credentials() -> None:
    env = {"HOTLINE_REDIS_URL": "rediss://hotline:s3cret@redis.example.org:6380/2"}
    assert load_settings(None, env=env).redis.where == "redis.example.org:6380/2"
