"""The wheel, installed into a fresh virtualenv (not the checkout's), starts and finds every file
the product reads at run time; it carries neither bench/ nor tests/.

The wheel is built from a copy of the checkout, so that no build/ left in the checkout leaks
into it. Dependencies come from pip's configured index (a local mirror or PyPI), as for a user.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The product's top-level packages: everything in them but caches ships in the wheel.
PRODUCT = (
    "core",
    "hotline",
    "ivr",
    "acd",
    "sms",
    "workers",
    "records",
    "console",
    "pledges",
    "dialplans",
)
NOT_SHIPPED = ("bench/", "tests/")
#: Reads what ``hotline run`` reads beyond check-config: the ACD's queues, agents and Lua
#: scripts, the SMS templates and the pseudonym word lists, from the installed packages.
RUNTIME_READS = """
import acd.store, hotline.app
from acd.config import load_agents, load_queues
from core.config import load_settings
from core.privacy.pseudonyms import pseudonym
from sms.templates import load_templates
settings = load_settings(None)
queues = load_queues(settings.acd.queues)
print(len(load_agents(settings.acd.agents, queues)), "agents,", len(queues), "queues")
print(len(load_templates().texts), "templates;", pseudonym(b"seed", "fr"))
print(hotline.app.__file__)
"""

pytestmark = pytest.mark.timeout(300)


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{args}: {proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source") / "hotline"
    junk = shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
    )
    shutil.copytree(ROOT, source, ignore=junk)
    out = tmp_path_factory.mktemp("dist")
    pip = [sys.executable, "-m", "pip", "--no-input", "-q"]
    run([*pip, "wheel", "--no-deps", "--wheel-dir", str(out), str(source)], cwd=out)
    (built,) = out.glob("hotline-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv without system site-packages, holding the wheel and its dependencies."""
    target = tmp_path_factory.mktemp("venv") / "env"
    run([sys.executable, "-m", "venv", "--without-pip", str(target)], cwd=target.parent)
    python = target / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--no-input", "-q", "--python", str(python)]
    run([*pip, "install", str(wheel)], cwd=target.parent)
    return target


def clean_env(venv: Path) -> dict[str, str]:
    """The environment of a user of the installed command: no PYTHONPATH, no HOTLINE_*."""
    keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "TMPDIR")}
    return {**keep, "PATH": f"{venv / 'bin'}:/usr/bin:/bin"}


def test_wheel_holds_the_product_and_its_files_only(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert not [n for n in names if n.startswith(NOT_SHIPPED)]
    expected = {
        path.relative_to(ROOT).as_posix()
        for package in PRODUCT
        for path in (ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert expected - names == set()
    assert "acd/lua/records.lua" in names
    assert {n for n in names if n.endswith(".lua")} == {
        p.relative_to(ROOT).as_posix()
        for package in PRODUCT
        for p in (ROOT / package).rglob("*.lua")
    }


def test_installed_command_starts_outside_the_checkout(venv: Path, tmp_path: Path) -> None:
    env = clean_env(venv)
    out = run([str(venv / "bin" / "hotline"), "check-config"], cwd=tmp_path, env=env)
    assert "ok: flow" in out
    assert str(venv) in out, "the demo flow should come from the installed package"
    rendered = tmp_path / "etc"
    for device in ("alice", "bruno", "chen", "erin", "farid"):  # the demo's SIP phones' secrets
        run([str(venv / "bin" / "hotline"), "phones", "rotate", device], tmp_path, env)
    run([str(venv / "bin" / "hotline"), "render-dialplans", "--out", str(rendered)], tmp_path, env)
    assert "Stasis(" in (rendered / "extensions.conf").read_text()
    assert (rendered / "pjsip_phones.conf").read_text().count("md5_cred = ") == 5
    proxy = tmp_path / "kamailio"
    run([str(venv / "bin" / "hotline"), "render-proxy", "--out", str(proxy)], tmp_path, env)
    assert len(re.findall(r'\$sht\(ha1=>\w+\) = "', (proxy / "kamailio.cfg").read_text())) == 5
    out = run([str(venv / "bin" / "python"), "-c", RUNTIME_READS], cwd=tmp_path, env=env)
    assert str(venv) in out.splitlines()[-1], out
    assert ROOT.as_posix() not in out
