"""docker/compose.scale.yaml, rendered and validated without a Docker engine: its services
hang together, and the configurations its render services write are the topology it shows
(Kamailio dispatching to both Asterisks, each app on its own Asterisk and ARI app)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

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
VARIABLE = re.compile(r"\$\{(\w+)(?::([?-])([^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` substitution."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
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
    assert {"kamailio", "asterisk-a", "asterisk-b", "app-a", "app-b", "redis"} <= set(services)
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
