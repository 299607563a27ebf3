"""Kamailio in front of several Asterisks: its configuration, rendered from
``dialplans/kamailio/kamailio.cfg`` with ``[proxy]``, and a private instance for the tests and
benchmarks.

The proxy dispatches each new call from the carrier to one Asterisk (OPTIONS-probed, the next
one on a timeout or 5xx) and is the registrar of volunteers' phones, which every Asterisk then
reaches through it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from core.config import ConfigError, Settings
from hotline.dialplans import TEMPLATES, render_text
from hotline.harness import HarnessError, _wait, spawn, stop_process, udp_bound
from hotline.phones import load_phones

#: The dispatcher set holding the Asterisks (``ds_select_dst("1", ...)`` in the template).
ASTERISK_SET = 1


def dispatcher_list(asterisks: tuple[str, ...]) -> str:
    """The dispatcher module's list file: every Asterisk in set 1."""
    return "".join(f"{ASTERISK_SET} sip:{address}\n" for address in asterisks)


def render_proxy(settings: Settings, out_dir: Path) -> Path:
    """Write ``kamailio.cfg`` and its ``dispatcher.list`` into ``out_dir`` from ``[proxy]``;
    the phones' HA1 hashes come from the agent file and the phones' secrets. Returns the
    configuration file (readable by its owner only: it holds the hashes). ConfigError if no
    carrier address is set."""
    proxy = settings.proxy
    if not proxy.carrier_match:
        raise ConfigError("[proxy] carrier_match is empty: no call could come in")
    out_dir.mkdir(parents=True, exist_ok=True)
    listing = out_dir / "dispatcher.list"
    listing.write_text(dispatcher_list(proxy.asterisks), encoding="utf-8")
    ha1_lines = "\n".join(
        f'\t$sht(ha1=>{phone.name}) = "{phone.ha1}";' for phone in load_phones(settings)
    )
    values = {
        "listen": proxy.listen,
        "sip_port": str(proxy.sip_port),
        "children": str(proxy.children),
        "dispatcher_list": str(listing),
        "probe_interval_s": str(proxy.probe_interval_s),
        "invite_timeout_ms": str(proxy.invite_timeout_ms),
        "realm": settings.phones.realm,
        "phone_ha1_lines": ha1_lines,
        "from_carrier": " || ".join(f'$si == "{address}"' for address in proxy.carrier_match),
    }
    template = TEMPLATES.joinpath("kamailio", "kamailio.cfg")
    text = render_text(template.read_text(encoding="utf-8"), values, "kamailio.cfg")
    cfg = out_dir / "kamailio.cfg"
    fd = os.open(cfg, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)  # an older file may have been readable by others
        out.write(text)
    return cfg


def check_config(cfg: Path) -> str:
    """Kamailio's own check of ``cfg`` (``kamailio -c``); raises HarnessError with its output
    when the file is refused."""
    result = subprocess.run(
        ["kamailio", "-c", "-f", str(cfg)], capture_output=True, text=True, check=False, timeout=30
    )
    if result.returncode != 0:
        raise HarnessError(f"kamailio -c refused {cfg}:\n{result.stderr[-3000:]}")
    return result.stderr


@dataclass
class PrivateKamailio:
    """A Kamailio in the foreground, from its own directory, configured by
    ``settings.proxy`` (e.g. a free loopback port from ``harness.free_port``)."""

    root: Path
    settings: Settings
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """Its SIP address, ``host:port``."""
        return f"{self.settings.proxy.listen}:{self.settings.proxy.sip_port}"

    @property
    def log(self) -> Path:
        return self.root / "kamailio.log"

    def start(self) -> PrivateKamailio:
        """Render and check the configuration, start Kamailio and wait until it listens."""
        if shutil.which("kamailio") is None:
            raise HarnessError("kamailio is not installed; run scripts/setup.sh")
        cfg = render_proxy(self.settings, self.root)
        check_config(cfg)
        run_dir = self.root / "run"
        run_dir.mkdir(exist_ok=True)
        self.proc = spawn(
            ["kamailio", "-f", str(cfg), "-DD", "-E", "-Y", str(run_dir), "-w", str(self.root),
             "-m", "32", "-M", "4"],
            self.log,
        )  # fmt: skip
        port = self.settings.proxy.sip_port
        _wait(lambda: udp_bound(port), "kamailio", self.log, self.proc, 15)
        return self

    def stop(self) -> None:
        """Stop Kamailio and every child it forked."""
        if self.proc is not None:
            stop_process(self.proc)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
