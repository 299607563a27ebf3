"""Renders ``dialplans/`` (Asterisk configuration templates) with ports, numbers and credentials.

Templates use ``{{name}}`` placeholders. Rendering fails on an unknown placeholder, so a typo in a
template is caught by the tests rather than by Asterisk at 3 a.m.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from core.config import Settings
from hotline.phones import load_phones, phones_conf

#: The templates ship as package data of ``dialplans`` (in a checkout: the ``dialplans/`` folder).
TEMPLATES = resources.files("dialplans")
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


class RenderError(ValueError):
    """A template names a placeholder that has no value."""


@dataclass(frozen=True)
class AsteriskDirs:
    """Where an Asterisk instance keeps its files (Debian's layout by default)."""

    etc_dir: Path = Path("/etc/asterisk")
    mod_dir: Path = Path("/usr/lib/asterisk/modules")
    var_dir: Path = Path("/var/lib/asterisk")
    spool_dir: Path = Path("/var/spool/asterisk")
    run_dir: Path = Path("/var/run/asterisk")
    log_dir: Path = Path("/var/log/asterisk")
    data_dir: Path = Path("/usr/share/asterisk")

    @classmethod
    def private(cls, root: Path) -> AsteriskDirs:
        """A self-contained layout under ``root`` for a test or demo instance."""
        return cls(
            etc_dir=root / "etc",
            var_dir=root / "var",
            spool_dir=root / "spool",
            run_dir=root / "run",
            log_dir=root / "log",
        )

    def create(self) -> None:
        """Create the writable directories."""
        for path in (self.etc_dir, self.var_dir, self.spool_dir, self.run_dir, self.log_dir):
            path.mkdir(parents=True, exist_ok=True)


def did_lines(dids: tuple[str, ...]) -> str:
    """Dialplan lines sending each DID (with or without its leading +) to ``hotline-inbound``
    (``dialplans/extensions.conf``), which answers it and hands it to the ARI app."""
    return "\n".join(
        f"exten => {exten},1,Goto(hotline-inbound,{did},1)"
        for did in dids
        for exten in dict.fromkeys((did, did.lstrip("+")))
    )


def template_values(settings: Settings, dirs: AsteriskDirs) -> dict[str, str]:
    """Every placeholder's value for ``settings`` and ``dirs``."""
    ast = settings.asterisk
    values = {name: str(value) for name, value in vars(dirs).items()}
    values.update(
        sip_bind=ast.sip_bind,
        sip_port=str(ast.sip_port),
        http_bind=ast.http_bind,
        http_port=str(ast.http_port),
        rtp_start=str(ast.rtp_start),
        rtp_end=str(ast.rtp_end),
        carrier_host=ast.carrier_host,
        carrier_dtmf_mode=ast.carrier_dtmf_mode,
        carrier_qualify_seconds=str(ast.carrier_qualify_seconds),
        carrier_match_lines="\n".join(f"match = {m}" for m in ast.carrier_match),
        did_lines=did_lines(ast.dids),
        volunteer_exten=settings.acd.volunteer_did.lstrip("+"),
        ari_app=settings.ari.app,
        ari_username=settings.ari.username,
        ari_password=settings.secrets.ari_password,
        phones_realm=settings.phones.realm,
        systemname_line=f"systemname = {ast.system_name}" if ast.system_name else "",
        carrier_proxy_line=carrier_proxy_line(ast.sip_proxy),
        carrier_contact_line="rewrite_contact = no" if ast.sip_proxy else "rewrite_contact = yes",
    )
    return values


def carrier_proxy_line(sip_proxy: str) -> str:
    """Behind a SIP proxy, what this Asterisk sends to the carrier (calls to external
    volunteers and callbacks, SMS as SIP MESSAGE, OPTIONS pings) goes through it."""
    return f"outbound_proxy = sip:{sip_proxy}\\;lr" if sip_proxy else ""


def render_text(text: str, values: dict[str, str], name: str) -> str:
    """Substitute ``{{placeholders}}`` in one template."""

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise RenderError(f"{name}: unknown placeholder {{{{{key}}}}}")
        return values[key]

    return PLACEHOLDER.sub(substitute, text)


#: Files holding secrets or password-equivalent hashes: readable by their owner only.
PRIVATE_FILES = ("ari.conf", "pjsip_phones.conf")


def render_dialplans(
    settings: Settings,
    dirs: AsteriskDirs,
    out_dir: Path | None = None,
    contacts: Mapping[str, str] | None = None,
) -> Path:
    """Write every template, rendered, and the phones of the agent file (``pjsip_phones.conf``,
    ``contacts``: fixed contacts of phones that do not register) into ``out_dir`` (default
    ``dirs.etc_dir``)."""
    out = out_dir or dirs.etc_dir
    out.mkdir(parents=True, exist_ok=True)
    files = {"pjsip_phones.conf": phones_conf(load_phones(settings, contacts), settings)}
    values = template_values(settings, dirs)
    conf = (t for t in TEMPLATES.iterdir() if t.name.endswith(".conf"))
    for template in sorted(conf, key=lambda t: t.name):
        files[template.name] = render_text(
            template.read_text(encoding="utf-8"), values, template.name
        )
    for name, text in files.items():
        _write(out / name, text, private=name in PRIVATE_FILES)
    return out


def _write(path: Path, text: str, *, private: bool) -> None:
    """Write ``path``; a private file is never readable by others, not even for a moment."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        if private:
            os.fchmod(out.fileno(), 0o600)  # an older file may have been readable by others
        out.write(text)
