"""The records store's configuration: one URL, its password only from the environment, the
SQLite file under the data directory (taken from the configuration file's directory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError, load_settings
from records.database import database_url


def test_sqlite_lives_in_the_data_directory_next_to_the_configuration(tmp_path: Path) -> None:
    config = tmp_path / "hotline.toml"
    config.write_text('[records]\ndata_dir = "data"\n', "utf-8")
    url = database_url(load_settings(config, env={}).records)
    assert (url.get_backend_name(), url.database) == (
        "sqlite",
        str(tmp_path / "data/records.sqlite3"),
    )


def test_the_postgresql_password_comes_from_the_environment_only(tmp_path: Path) -> None:
    env = {
        "HOTLINE_RECORDS_URL": "postgresql+asyncpg://hotline@db.example:5432/hotline",
        "HOTLINE_RECORDS_PASSWORD": "s3cret-pw",
    }
    settings = load_settings(None, env=env)
    url = database_url(settings.records, settings.secrets.records_password)
    assert (url.username, url.password, url.host) == ("hotline", "s3cret-pw", "db.example")
    assert "s3cret-pw" not in repr(settings)
    config = tmp_path / "hotline.toml"
    config.write_text('[records]\nurl = "postgresql+asyncpg://hotline:pw@db/hotline"\n', "utf-8")
    with pytest.raises(ConfigError, match="HOTLINE_RECORDS_PASSWORD"):
        load_settings(config, env={})
    with pytest.raises(ConfigError, match="not a database URL"):
        load_settings(None, env={"HOTLINE_RECORDS_URL": "nonsense"})
