"""The one way to load the Redis Lua scripts: ``{package}/lua/{name}.lua``, shipped as package
data (``pyproject.toml``) and read once per process."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def source(package: str, name: str) -> str:
    """The text of the script ``name`` of ``package`` (e.g. ``source("sms", "transition")``)."""
    return (files(package) / "lua" / f"{name}.lua").read_text(encoding="utf-8")
