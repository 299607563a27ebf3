"""Every Redis key the service uses, in one place.

| key                               | type   | holds                                             |
|-----------------------------------|--------|---------------------------------------------------|
| ``{p}:call:{channel}``            | string | JSON of one live call's IVR state (no number)     |
| ``{p}:app:{app}:calls``           | set    | channel ids of the live calls an app instance owns |
| ``{p}:journal``                   | stream | one entry per IVR transition, channel id first    |
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    """Key names under one deployment prefix."""

    prefix: str

    def call(self, channel_id: str) -> str:
        """The live state of one call."""
        return f"{self.prefix}:call:{channel_id}"

    def app_calls(self, app: str) -> str:
        """The set of live calls that app instance ``app`` drives."""
        return f"{self.prefix}:app:{app}:calls"

    @property
    def journal(self) -> str:
        """The IVR journal stream."""
        return f"{self.prefix}:journal"
