"""The layers show in the imports: hotline -> workers and the features -> core.

``core`` is the shared ground; ``ivr``, ``acd``, ``sms``, ``records``, ``console`` and
``pledges`` stand side by side and reach each other only through ``core.ports``; ``workers``
run the SMS side's jobs and the purge (the records' tables too); ``hotline`` wires it all;
``bench`` may use anything but the tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = frozenset(
    {
        "core",
        "ivr",
        "acd",
        "sms",
        "workers",
        "records",
        "console",
        "pledges",
        "hotline",
        "bench",
        "tests",
    }
)
#: The project packages each package may import (itself included).
ALLOWED = {
    "core": {"core"},
    "ivr": {"core", "ivr"},
    "acd": {"core", "acd"},
    "sms": {"core", "sms"},
    "workers": {"core", "sms", "records", "workers"},
    "records": {"core", "records"},
    "console": {"core", "console"},
    "pledges": {"core", "pledges"},
    "hotline": PROJECT - {"bench", "tests"},
    "bench": PROJECT - {"tests"},
}
SOURCES = sorted(path for package in ALLOWED for path in (ROOT / package).rglob("*.py"))


def project_imports(source: str) -> set[str]:
    """The project packages a module imports, anywhere in it (relative imports stay inside)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.partition(".")[0])
    return found & PROJECT


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(ROOT)))
def test_imports_follow_the_layers(path: Path) -> None:
    package = path.relative_to(ROOT).parts[0]
    wrong = project_imports(path.read_text(encoding="utf-8")) - ALLOWED[package]
    assert not wrong, f"{package}/ must not import {sorted(wrong)}"


def test_every_package_is_checked() -> None:
    assert {path.relative_to(ROOT).parts[0] for path in SOURCES} == set(ALLOWED)


def test_imports_are_found_however_written() -> None:
    source = (
        "import acd.chat\nfrom sms import gateway\nfrom . import x\ndef f():\n import hotline\n"
    )
    assert project_imports(source) == {"acd", "sms", "hotline"}
