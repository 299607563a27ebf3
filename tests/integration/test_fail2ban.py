"""The shipped fail2ban jail and filter load in Debian's fail2ban configuration."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "fail2ban"


def test_the_jail_loads_with_its_filter_on_the_security_log(tmp_path: Path) -> None:
    conf = tmp_path / "fail2ban"
    shutil.copytree("/etc/fail2ban", conf)
    shutil.copy(DEPLOY / "filter.d" / "hotline-asterisk.conf", conf / "filter.d")
    log = tmp_path / "security"
    log.touch()
    jail = (DEPLOY / "jail.d" / "hotline-asterisk.conf").read_text()
    assert "logpath  = /var/log/asterisk/security\n" in jail
    (conf / "jail.d" / "hotline-asterisk.conf").write_text(
        jail.replace("/var/log/asterisk/security", str(log))
    )
    # Debian enables the sshd jail, whose log does not exist here.
    (conf / "jail.local").write_text("[sshd]\nenabled = false\n")
    test = subprocess.run(
        ["fail2ban-client", "--conf", str(conf), "-t"], capture_output=True, text=True, timeout=60
    )
    assert test.returncode == 0, test.stderr
    dump = subprocess.run(
        ["fail2ban-client", "--conf", str(conf), "-d"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "['add', 'hotline-asterisk', 'polling']" in dump
    assert f"['set', 'hotline-asterisk', 'addlogpath', '{log}', 'head']" in dump
    assert "['set', 'hotline-asterisk', 'addfailregex', '^\\\\s*SECURITY" in dump
    assert "['set', 'hotline-asterisk', 'maxretry', 5]" in dump
    assert "['port', '0:65535'], ['protocol', 'all']" in dump  # UDP too: SIP and RTP
