"""Volunteers' SIP phones: PJSIP endpoints with digest credentials, and the devices' secrets.

Every SIP device of the agent file (``PJSIP/NAME``) becomes an endpoint, an AOR and an auth
section named NAME. A phone is identified by the user name of its credentials
(``identify_by = auth_username``), never by its address or its From header, so a request for a
volunteer's endpoint without the secret is challenged and refused. The rendered configuration
holds only the HA1 hash (MD5 of ``NAME:realm:secret``, Asterisk's ``md5_cred``); the secret
itself lives in the secrets file (``hotline phones``) or in ``HOTLINE_PHONE_SECRET_<NAME>``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from acd.config import AgentProfile, DeviceKind, load_agents, load_queues
from core.config import ConfigError, Settings

SECRET_ENV_PREFIX = "HOTLINE_PHONE_SECRET_"
PJSIP_PREFIX = "PJSIP/"
DEVICE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
#: Bytes of randomness in a new device secret (before base64).
SECRET_BYTES = 18
#: The phones' TLS transport section (``[phones] tls_port``).
TLS_TRANSPORT = "transport-tls"


@dataclass(frozen=True)
class Phone:
    """One SIP device as Asterisk sees it: its name is its endpoint, AOR and auth user."""

    name: str
    ha1: str = field(repr=False)
    #: A fixed contact (test phones that never register); "" = the phone registers.
    contact: str = ""


def sip_device_names(agent: AgentProfile) -> list[str]:
    """The names of an agent's SIP devices (``PJSIP/NAME``)."""
    return [
        d.address.removeprefix(PJSIP_PREFIX)
        for d in agent.devices
        if d.kind is DeviceKind.SIP and d.address.startswith(PJSIP_PREFIX)
    ]


def device_names(settings: Settings) -> tuple[str, ...]:
    """The SIP devices (``PJSIP/NAME``) of the agent file, once each, in file order."""
    agents = load_agents(settings.acd.agents, load_queues(settings.acd.queues))
    names = [name for a in agents for name in sip_device_names(a)]
    for name in names:
        if not DEVICE_NAME.fullmatch(name):
            raise ConfigError(f"{settings.acd.agents}: SIP device {name!r} is no valid name")
    return tuple(dict.fromkeys(names))


def secret_env(name: str) -> str:
    """The environment variable that may hold ``name``'s secret."""
    return SECRET_ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", name.upper())


def read_secrets(path: Path) -> dict[str, str]:
    """The secrets file's ``NAME = "secret"`` entries ({} when there is no file yet)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError:
        raise ConfigError(f"{path}: not valid TOML") from None
    if not all(isinstance(v, str) for v in data.values()):
        raise ConfigError(f'{path}: every entry must be NAME = "secret"')
    return {str(k): str(v) for k, v in data.items()}


def device_secrets(settings: Settings, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each known device's secret: the environment's, else the secrets file's."""
    env = os.environ if env is None else env
    stored = read_secrets(settings.phones.secrets_file)
    found = {
        name: env.get(secret_env(name)) or stored.get(name, "") for name in device_names(settings)
    }
    return {name: secret for name, secret in found.items() if secret}


def ha1(name: str, realm: str, secret: str) -> str:
    """The digest HA1 Asterisk stores instead of the secret (``md5_cred``)."""
    return hashlib.md5(f"{name}:{realm}:{secret}".encode(), usedforsecurity=False).hexdigest()


def load_phones(
    settings: Settings,
    contacts: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[Phone, ...]:
    """Every SIP device with its HA1; ConfigError names the devices that have no secret."""
    contacts = contacts or {}
    found = device_secrets(settings, env)
    names = device_names(settings)
    missing = [name for name in names if name not in found]
    if missing:
        raise ConfigError(
            f"no SIP secret for device(s) {', '.join(missing)}: run `hotline phones rotate NAME`"
            f" (secrets file {settings.phones.secrets_file}) or set {secret_env(missing[0])}"
        )
    realm = settings.phones.realm
    return tuple(
        Phone(name, ha1(name, realm, found[name]), contacts.get(name, "")) for name in names
    )


def phones_conf(phones: tuple[Phone, ...], settings: Settings) -> str:
    """PJSIP sections of ``phones`` (endpoints on ``phone-template`` of ``pjsip.conf``) and of
    their TLS transport when ``[phones] tls_port`` is set; behind ``[asterisk] sip_proxy``, a
    phone without a fixed contact is reached through the proxy."""
    conf = settings.phones
    realm = conf.realm
    sections = []
    endpoint_extra = ""
    if conf.tls_port:
        sections.append(
            f"[{TLS_TRANSPORT}]\ntype = transport\nprotocol = tls\n"
            f"bind = {conf.tls_bind or settings.asterisk.sip_bind}:{conf.tls_port}\n"
            f"cert_file = {conf.tls_cert}\npriv_key_file = {conf.tls_key}\nmethod = tlsv1_2\n"
        )
        # SDES: SRTP keys in the SDP; an offer without them is refused (488).
        endpoint_extra = "media_encryption = sdes\n"
        if not conf.udp:
            endpoint_extra += f"transport = {TLS_TRANSPORT}\n"
    proxy = settings.asterisk.sip_proxy
    if proxy:
        # The proxy is each phone's registrar and relays its answers: the contact it gives is
        # the phone's own, never to be replaced by the proxy's address.
        endpoint_extra += "rewrite_contact = no\n"
    for phone in phones:
        reach = phone.contact or (f"sip:{phone.name}@{proxy}" if proxy else "")
        contact = f"contact = {reach}\n" if reach else ""
        sections.append(
            f"[{phone.name}](phone-template)\naors = {phone.name}\nauth = {phone.name}\n"
            f"{endpoint_extra}\n"
            f"[{phone.name}]\ntype = aor\nmax_contacts = 1\nremove_existing = yes\n{contact}\n"
            f"[{phone.name}]\ntype = auth\nauth_type = md5\nusername = {phone.name}\n"
            f"realm = {realm}\nmd5_cred = {phone.ha1}\n"
        )
    return (
        "; Volunteers' SIP phones, rendered from the agent file (hotline/phones.py).\n"
        + "\n".join(sections)
    )


def rotate_secret(path: Path, name: str) -> str:
    """Give device ``name`` a new random secret in the secrets file (created 0600); return it."""
    entries = read_secrets(path)
    entries[name] = secrets.token_urlsafe(SECRET_BYTES)
    text = "".join(f"{json.dumps(k)} = {json.dumps(v)}\n" for k, v in sorted(entries.items()))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:  # mkstemp creates it 0600
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return entries[name]


def create_missing_secrets(settings: Settings, env: Mapping[str, str] | None = None) -> None:
    """Give every device that has no secret yet a new one in the secrets file."""
    found = device_secrets(settings, env)
    for name in device_names(settings):
        if name not in found:
            rotate_secret(settings.phones.secrets_file, name)
