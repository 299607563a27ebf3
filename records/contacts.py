"""How stream entries become rows: a queue-log entry becomes a ``QueueEvent`` row, each call's
contact follows its queue-log events and its IVR journal, and each SMS conversation's contact
follows the conversation log (no I/O here).

The two streams are drained side by side, so a contact may see its IVR part after its queue
part: every rule below gives the same row whatever the order between the streams (earliest
arrival, latest end, the latest outcome by time, an IVR ending never over a queue outcome).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from records.models import Contact

#: Seconds in a report's hour bucket.
HOUR_S = 3600


class Outcome(Enum):
    """How a contact ended."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"
    OVERFLOWED = "overflowed"
    CALLBACK = "callback"
    TEXT = "text"  # went on by SMS
    IVR = "ivr"  # ended in the IVR, never queued


#: Queue-log events that give a call its outcome.
OUTCOMES: Mapping[str, Outcome] = {
    "CONNECT": Outcome.ANSWERED,
    "ABANDON": Outcome.ABANDONED,
    "EXITWITHTIMEOUT": Outcome.OVERFLOWED,
    "EXITEMPTY": Outcome.OVERFLOWED,
    "JOINEMPTY": Outcome.OVERFLOWED,
    "FULL": Outcome.OVERFLOWED,
    "CALLBACK": Outcome.CALLBACK,
}
#: Queue-log events that end a call's part in a queue.
ENDS = frozenset({"COMPLETEAGENT", "COMPLETECALLER", "ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY"})


def stream_time(entry_id: str) -> float:
    """The epoch seconds a Redis stream id was made at."""
    return int(entry_id.partition("-")[0]) / 1000


def id_key(entry_id: str) -> tuple[int, int]:
    """A stream id as a sortable pair."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(frozen=True)
class QueueEntry:
    """One queue-log entry, as the ``queue_events`` row it becomes (plain data: rows are
    inserted in bulk, not one ORM object each)."""

    id: str
    at: float
    hour: int
    event: str
    queue: str
    call_id: str
    agent: str
    wait_s: float | None
    talk_s: float | None
    detail: str
    wrapup_until: float | None

    def row(self) -> dict[str, Any]:
        """The columns of its row."""
        return dict(vars(self))


def queue_event(entry_id: str, fields: Mapping[str, str]) -> QueueEntry:
    """One queue-log entry, parsed (``NONE`` fields become "")."""
    at = float(fields.get("time") or stream_time(entry_id))
    event = fields.get("event", "")
    wait = fields.get("holdtime") or fields.get("waittime")
    talk = fields.get("calltime")
    until = fields.get("until")
    # A pause's reason, a transfer's target, the volunteer a hand-over's CONNECT comes from.
    detail = fields.get("reason") or fields.get("to") or fields.get("from") or ""
    return QueueEntry(
        id=entry_id,
        at=at,
        hour=int(at // HOUR_S),
        event=event,
        queue=_some(fields.get("queue")),
        call_id=_some(fields.get("call")),
        agent=_some(fields.get("agent")),
        wait_s=float(wait) if wait else None,
        talk_s=float(talk) if talk else None,
        detail=detail[:120],
        wrapup_until=float(until) if until else None,
    )


def _some(value: str | None) -> str:
    return "" if value in (None, "NONE") else value


def new_contact(call_id: str) -> Contact:
    """An empty contact (a voice call until its journal says otherwise)."""
    return Contact(
        id=call_id,
        caller_key="",
        pseudonym="",
        channel="voice",
        line="",
        language="",
        ivr_path="",
        queues="",
        outcome="",
        agent="",
        transfers=0,
        journal_id="",
    )


def apply_queue_event(contact: Contact, event: QueueEntry) -> None:
    """Move ``contact`` on by one of its call's queue-log events."""
    _arrive(contact, event.at)
    name = event.event
    if name == "ENTERQUEUE" and event.queue:
        contact.queues = _append(contact.queues, event.queue)
    elif name == "OFFER" and contact.offered_at is None:
        contact.offered_at = event.at
    elif name == "CONNECT":
        contact.answered_at = event.at
        contact.agent = event.agent
    elif name == "TRANSFER":
        contact.transfers = (contact.transfers or 0) + 1
    if name in OUTCOMES:
        _set_outcome(contact, OUTCOMES[name], event.at)
    if name in ENDS:
        _end(contact, event.at)


def apply_journal(contact: Contact, entry_id: str, kind: str, detail_json: str) -> None:
    """Move ``contact`` on by one entry of its call's IVR journal (once: an entry not after
    the last one applied is skipped)."""
    if contact.journal_id and id_key(entry_id) <= id_key(contact.journal_id):
        return
    contact.journal_id = entry_id
    detail: dict[str, str] = json.loads(detail_json or "{}")
    at = stream_time(entry_id)
    _arrive(contact, at)
    if kind == "call":
        caller = detail.get("caller", "")
        contact.caller_key = caller.removeprefix("h:") if caller.startswith("h:") else ""
        contact.line = detail.get("did", "")[:32]
        contact.pseudonym = detail.get("pseudonym", "")[:80]
    elif kind == "language":
        contact.language = detail.get("language", "")[:8]
    elif kind == "digit" and detail.get("digit"):
        contact.ivr_path = _append(contact.ivr_path, detail["digit"])[:200]
    elif kind == "text":
        _set_outcome(contact, Outcome.TEXT, at)
    elif kind == "hangup":
        _end(contact, at)
        if not contact.outcome:
            contact.outcome, contact.outcome_at = Outcome.IVR.value, at


def apply_conversation(contact: Contact, entry_id: str, fields: Mapping[str, str]) -> None:
    """Move an SMS conversation's contact on by one entry of the conversation log (once: an
    entry not after the last one applied is skipped). Opened: arrived and offered to its
    queue; assigned: answered (a later volunteer counts as a transfer); ended."""
    if contact.journal_id and id_key(entry_id) <= id_key(contact.journal_id):
        return
    contact.journal_id = entry_id
    contact.channel = "sms"
    at = float(fields.get("at") or stream_time(entry_id))
    event = fields.get("event", "")
    if event == "open":
        _arrive(contact, at)
        contact.offered_at = at
        caller = fields.get("caller", "")
        contact.caller_key = caller.removeprefix("h:")[:12] if caller.startswith("h:") else ""
        contact.pseudonym = fields.get("pseudonym", "")[:80]
        contact.language = fields.get("language", "")[:8]
        contact.queues = fields.get("queue", "")[:200]
    elif event == "assign":
        agent = fields.get("agent", "")[:64]
        if contact.answered_at is None:
            contact.answered_at = at
        elif agent != contact.agent:
            contact.transfers = (contact.transfers or 0) + 1
        contact.agent = agent
        _set_outcome(contact, Outcome.ANSWERED, at)
    elif event == "end":
        _end(contact, at)


def _arrive(contact: Contact, at: float) -> None:
    if contact.arrived_at is None or at < contact.arrived_at:
        contact.arrived_at = at


def _end(contact: Contact, at: float) -> None:
    if contact.ended_at is None or at > contact.ended_at:
        contact.ended_at = at


def _set_outcome(contact: Contact, outcome: Outcome, at: float) -> None:
    """The latest outcome by time wins; the IVR's weak one never stands over a queue's."""
    weak = contact.outcome in ("", Outcome.IVR.value)
    if weak or contact.outcome_at is None or at >= contact.outcome_at:
        contact.outcome, contact.outcome_at = outcome.value, at


def _append(words: str, word: str) -> str:
    return f"{words} {word}" if words else word
