"""What a volunteer's screen learns when a supervisor joins or leaves their call: the ACD's
MONITOR queue-log entries, shown only where the call's queue tells its volunteers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Monitored:
    """A supervisor started (``on``) or stopped listening, whispering or barging."""

    call_id: str
    mode: str
    on: bool

    def to_json(self) -> str:
        """The ``monitored`` event's data (never who the supervisor is)."""
        return json.dumps(asdict(self))


def monitored(fields: Mapping[str, str], agent_id: str) -> Monitored | None:
    """The notice a queue log entry gives ``agent_id``'s screen, or None (another entry,
    another volunteer's call, or a queue that does not tell)."""
    if fields.get("event") != "MONITOR" or fields.get("agent") != agent_id:
        return None
    if fields.get("tell") != "1":
        return None
    return Monitored(fields.get("call", ""), fields.get("mode", ""), fields.get("on") == "1")
