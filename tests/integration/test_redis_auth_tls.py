"""Redis over a network: the service's clients reach a real redis-server that requires TLS
and a password (an ACL user), with the password from the environment only."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.exceptions

from core import redisconn
from core.config import ConfigError, RedisSettings, load_settings
from hotline.harness import free_port, spawn, stop_process
from tests.tls import TlsFiles, make_tls_files

USER, PASSWORD = "hotline", "s3cret-redis-pw"


@dataclass(frozen=True)
class SecureRedis:
    url: str
    tls: TlsFiles


@pytest.fixture
def secure_redis(tmp_path: Path) -> Iterator[SecureRedis]:
    """redis-server on TLS only, with an ACL user and no default user."""
    tls = make_tls_files(tmp_path)
    port = free_port()
    args = [
        "redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
        "--tls-cert-file", str(tls.cert), "--tls-key-file", str(tls.key),
        "--tls-ca-cert-file", str(tls.ca), "--tls-auth-clients", "no",
        "--save", "", "--appendonly", "no", "--dir", str(tmp_path),
        "--user", "default", "off",
        "--user", USER, "on", f">{PASSWORD}", "~*", "&*", "+@all",
    ]  # fmt: skip
    proc = spawn(args, tmp_path / "redis.log")
    settings = RedisSettings(
        url=f"rediss://127.0.0.1:{port}/0", username=USER, password=PASSWORD, ca_file=str(tls.ca)
    )
    client = redisconn.connect_rq(settings, max_connections=1)
    deadline = time.monotonic() + 15
    try:
        while True:
            assert proc.poll() is None, (tmp_path / "redis.log").read_text()
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                assert time.monotonic() < deadline, "redis-server (TLS) did not start"
                time.sleep(0.1)
        yield SecureRedis(settings.url, tls)
    finally:
        client.close()
        stop_process(proc)


async def test_the_service_client_uses_tls_an_acl_user_and_the_password_from_the_env(
    secure_redis: SecureRedis,
) -> None:
    env = {
        "HOTLINE_REDIS_URL": secure_redis.url,
        "HOTLINE_REDIS_USERNAME": USER,
        "HOTLINE_REDIS_PASSWORD": PASSWORD,
        "HOTLINE_REDIS_CA_FILE": str(secure_redis.tls.ca),
    }
    settings = load_settings(None, env=env).redis
    assert PASSWORD not in repr(settings)
    client = redisconn.connect(settings, max_connections=1)
    try:
        assert await client.set("k", "v")
        assert await client.get("k") == "v"
    finally:
        await client.aclose()

    wrong = RedisSettings(**{**vars(settings), "password": "wrong-" + PASSWORD})
    client = redisconn.connect(wrong, max_connections=1)
    try:
        with pytest.raises(redis.exceptions.AuthenticationError) as refused:
            await client.ping()
    finally:
        await client.aclose()
    assert PASSWORD not in str(refused.value)

    untrusted = RedisSettings(**{**vars(settings), "ca_file": ""})  # the system's CAs only
    client = redisconn.connect(untrusted, max_connections=1)
    try:
        with pytest.raises(redis.exceptions.ConnectionError, match="certificate verify failed"):
            await client.ping()
    finally:
        await client.aclose()


def test_a_redis_password_in_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hotline.toml"
    path.write_text('[redis]\npassword = "oops"\n')
    with pytest.raises(ConfigError, match="set HOTLINE_REDIS_PASSWORD instead"):
        load_settings(path, env={})
    path.write_text('[redis]\nurl = "rediss://hotline:oops@redis.example.org:6380/0"\n')
    with pytest.raises(ConfigError, match="url holds a password") as info:
        load_settings(path, env={})
    assert "oops" not in str(info.value)
