"""docker/compose.scale.yaml, rendered and validated without a Docker engine: its services
hang together, the configurations its render services write are the topology it shows
(Kamailio dispatching to both Asterisks, each app on its own Asterisk and ARI app), and its
Sentinels, run here from their own command, watch the primary the apps and workers follow."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from core.config import load_settings
from hotline.harness import _wait, free_port, spawn, stop_process
from hotline.sip_proxy import check_config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.scale.yaml"
#: What a deployment sets; compose refuses to start without the required ones.
DEPLOYMENT_ENV = {
    "HOTLINE_ARI_PASSWORD": "ari-pw",
    "HOTLINE_HASH_KEY": "k" * 32,
    "HOTLINE_VAULT_KEYS": "Pgjr0nHc8kw2bx9VnHk1hhWrt4dvJHN7nzJ0fCkTmNw=",
    "HOTLINE_PHONE_SECRET_ALICE": "alice-secret",
    "HOTLINE_PHONE_SECRET_BRUNO": "bruno-secret",
    "HOTLINE_PHONE_SECRET_CHEN": "chen-secret",
    "HOTLINE_PHONE_SECRET_ERIN": "erin-secret",
    "HOTLINE_PHONE_SECRET_FARID": "farid-secret",
    "CARRIER_MATCH": "192.0.2.10,192.0.2.11",
}
VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?::([?-])([^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` substitution, and
    ``$$`` for a ``$`` left to the container's shell."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        name, kind, arg = match.groups()
        if env.get(name):
            return env[name]
        if kind == "?":
            raise KeyError(f"{name}: {arg}")
        return arg or ""

    return VARIABLE.sub(substitute, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = interpolate(yaml.safe_load(COMPOSE.read_text()), DEPLOYMENT_ENV)
    assert isinstance(loaded, dict)
    return loaded


def render(service: dict[str, Any], out: Path) -> None:
    """Run a render service's ``hotline`` command here, with its environment and the
    repository's hotline.toml (the one the image holds), writing into ``out``."""
    command = list(service["command"])
    assert command[:3] == ["hotline", "--config", "/srv/hotline/hotline.toml"]
    assert command[-2] == "--out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update({key: str(value) for key, value in service["environment"].items()})
    args = [sys.executable, "-m", "hotline.cli", "--config", str(ROOT / "hotline.toml")]
    args += [*command[3:-1], str(out)]
    result = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_every_service_names_what_exists(compose: dict[str, Any]) -> None:
    services, volumes = compose["services"], set(compose["volumes"])
    expected = {"kamailio", "asterisk-a", "asterisk-b", "app-a", "app-b", "worker"}
    expected |= {"redis-primary", "redis-replica", "sentinel-1", "sentinel-2", "sentinel-3"}
    assert expected <= set(services)
    for name, service in services.items():
        for dependency in service.get("depends_on") or ():
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for volume in service.get("volumes") or ():
            assert volume.split(":")[0] in volumes, f"{name}: undeclared volume {volume}"
        if "build" in service:
            assert (
                COMPOSE.parent / service["build"]["context"] / service["build"]["dockerfile"]
            ).exists()
    with pytest.raises(KeyError, match="HOTLINE_ARI_PASSWORD"):
        interpolate(yaml.safe_load(COMPOSE.read_text()), {})


def test_the_rendered_configurations_are_the_topology(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    services = compose["services"]
    for name in ("render-a", "render-b", "render-proxy"):
        render(services[name], tmp_path / name)
    kamailio_cfg = tmp_path / "render-proxy" / "kamailio.cfg"
    check_config(kamailio_cfg)
    assert '$si == "192.0.2.10" || $si == "192.0.2.11"' in kamailio_cfg.read_text()
    dispatched = (tmp_path / "render-proxy" / "dispatcher.list").read_text().split()
    proxy = services["render-proxy"]["environment"]
    assert dispatched == ["1", "sip:127.0.0.2:5060", "1", "sip:127.0.0.3:5060"]
    for box, address in (("a", "127.0.0.2"), ("b", "127.0.0.3")):
        pjsip = (tmp_path / f"render-{box}" / "pjsip.conf").read_text()
        phones = (tmp_path / f"render-{box}" / "pjsip_phones.conf").read_text()
        assert f"bind = {address}:5060" in pjsip
        assert f"match = {proxy['HOTLINE_PROXY_LISTEN']}" in pjsip  # the carrier is the proxy
        assert f"contact = sip:alice@{proxy['HOTLINE_PROXY_LISTEN']}:5060" in phones
        http = (tmp_path / f"render-{box}" / "http.conf").read_text()
        app = services[f"app-{box}"]["environment"]
        assert app["HOTLINE_ARI_URL"] == f"http://{address}:8088"
        assert f"bindaddr = {address}" in http
        # Channel ids of the two boxes never collide in the shared Redis.
        conf = (tmp_path / f"render-{box}" / "asterisk.conf").read_text()
        assert f"systemname = box-{box}" in conf
    apps = [services[f"app-{box}"]["environment"] for box in "ab"]
    assert apps[0]["HOTLINE_ARI_APP"] != apps[1]["HOTLINE_ARI_APP"]
    assert apps[0]["HOTLINE_HTTP_PORT"] != apps[1]["HOTLINE_HTTP_PORT"]


def option(command: list[str], name: str) -> list[str]:
    """The values after ``name`` in a redis-server command line (up to the next option)."""
    at = command.index(name) + 1
    end = next((i for i in range(at, len(command)) if command[i].startswith("--")), len(command))
    return command[at:end]


def sentinel_watches(service: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """Run a Sentinel service's own command here (its ``/data`` in ``tmp_path``, on a free
    port instead of its own) and ask it what it monitors."""
    assert service["entrypoint"] == ["sh", "-c"]
    script = service["command"][0].replace("/data", str(tmp_path))
    port = free_port()
    env = {**os.environ, "SENTINEL_PORT": str(port)}
    log = tmp_path / "sentinel.log"
    proc = spawn(["sh", "-c", script], log, env=env)
    try:
        with redis.Redis(port=port, socket_timeout=5, decode_responses=True) as sentinel:

            def answers() -> bool:
                try:
                    return bool(sentinel.ping())
                except redis.ConnectionError:
                    return False

            _wait(answers, "sentinel", log, proc, 15)
            masters: dict[str, Any] = sentinel.sentinel_masters()
    finally:
        stop_process(proc)
    return masters


def test_apps_and_workers_follow_the_sentinels_that_watch_the_primary(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    services = compose["services"]
    primary = services["redis-primary"]["command"]
    primary_port = int(option(primary, "--port")[0])
    replica = services["redis-replica"]["command"]
    assert option(replica, "--replicaof") == ["127.0.0.1", str(primary_port)]
    assert int(option(replica, "--port")[0]) != primary_port
    sentinels = [services[f"sentinel-{n}"] for n in (1, 2, 3)]
    ports = {f"127.0.0.1:{s['environment']['SENTINEL_PORT']}" for s in sentinels}
    assert len(ports) == 3
    assert len({s["volumes"][0] for s in sentinels}) == 3  # each rewrites its own file
    for n, service in enumerate(sentinels):
        directory = tmp_path / f"sentinel-{n}"
        directory.mkdir()
        masters = sentinel_watches(service, directory)
        assert list(masters) == ["hotline"]
        watched = masters["hotline"]
        assert (watched["ip"], int(watched["port"])) == ("127.0.0.1", primary_port)
        assert int(watched["quorum"]) == 2  # a majority of three
    for name in ("app-a", "app-b", "worker"):
        environment = {k: str(v) for k, v in services[name]["environment"].items()}
        settings = load_settings(ROOT / "hotline.toml", env=environment)
        assert set(settings.redis.sentinels) == ports, name
        assert settings.redis.master_name == "hotline", name
        assert {f"sentinel-{n}" for n in (1, 2, 3)} <= set(services[name]["depends_on"])
