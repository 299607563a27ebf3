"""The supervisor's tail of the ACD's queue log: the newest entries as lines (time, event,
queue, agent, the call's pseudonym, never a number), limited to the queues the supervisor
oversees and filtered by queue, agent and event."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from console.supervision import oversees

#: The events the ACD writes to its queue log, as the filter offers them.
EVENTS: Final = (
    "ADDMEMBER",
    "REMOVEMEMBER",
    "PAUSE",
    "UNPAUSE",
    "ENTERQUEUE",
    "OFFER",
    "RINGNOANSWER",
    "RINGCANCELED",
    "CONNECT",
    "COMPLETEAGENT",
    "COMPLETECALLER",
    "TRANSFER",
    "ABANDON",
    "CALLBACK",
    "FULL",
    "JOINEMPTY",
    "EXITEMPTY",
    "EXITWITHTIMEOUT",
    "WRAPUPEXTEND",
    "WRAPUPEND",
    "RESET",
    "MONITOR",
    "RECONCILE",
)
#: Lines the tail shows.
TAIL_LINES: Final = 50
#: Newest entries searched for them.
TAIL_SCAN: Final = 2000
#: What the queue log writes where an entry has no queue, agent or call.
NONE: Final = "NONE"


@dataclass(frozen=True)
class LogLine:
    """One queue log entry as the tail shows it: its stream id, when (epoch seconds, and
    ``at`` as HH:MM:SS in the console's zone), the event, the queue, the agent and the call's
    pseudonym ("" where the entry has none)."""

    id: str
    time: float
    at: str
    event: str
    queue: str
    agent: str
    pseudonym: str

    def to_json(self) -> str:
        """The line as the supervisor's event stream sends it."""
        return json.dumps(asdict(self))


@dataclass(frozen=True)
class LogFilter:
    """The lines a supervisor asked for: one queue, agent or event each, or any ("")."""

    queue: str = ""
    agent: str = ""
    event: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> LogFilter:
        """The filter a page's query asks for (an unknown event is any)."""
        event = query.get("event", "")
        return cls(
            query.get("queue", "")[:64], query.get("agent", "")[:64], event * (event in EVENTS)
        )

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Whether a queue log entry passes the filter."""
        wanted = ((self.queue, "queue"), (self.agent, "agent"), (self.event, "event"))
        return all(not value or fields.get(name) == value for value, name in wanted)

    def as_query(self) -> dict[str, str]:
        """The filter as query parameters (those given)."""
        return {name: value for name, value in asdict(self).items() if value}


def in_scope(
    supervises: Collection[str],
    fields: Mapping[str, str],
    agent_queues: Callable[[str], tuple[str, ...]],
) -> bool:
    """Whether someone overseeing ``supervises`` sees the entry: its queue's, or for an entry
    without a queue, its agent's queues."""
    queue = fields.get("queue", NONE)
    queues = (queue,) if queue != NONE else agent_queues(fields.get("agent", NONE))
    return oversees(supervises, queues)


def call_of(fields: Mapping[str, str]) -> str:
    """The entry's call id ("" if none)."""
    call = fields.get("call", NONE)
    return "" if call == NONE else call


def log_line(entry_id: str, fields: Mapping[str, str], pseudonym: str, zone: ZoneInfo) -> LogLine:
    """The tail's line of a queue log entry, with its call's ``pseudonym``."""
    when = float(fields.get("time", "0"))
    at = datetime.fromtimestamp(when, zone).strftime("%H:%M:%S")

    def shown(name: str) -> str:
        value = fields.get(name, NONE)
        return "" if value == NONE else value

    return LogLine(entry_id, when, at, shown("event"), shown("queue"), shown("agent"), pseudonym)
