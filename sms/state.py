"""The outbound message state machine (pure): which state may follow which.

``queued → sending → sent → delivered | undelivered | failed``; a send may also go back from
``sending`` to ``queued`` (the provider refused it for now, e.g. 429) and ``queued`` may go
straight to ``failed`` (refused before sending: opted out, not a mobile number). Status
callbacks can overtake the worker, so ``sending`` may jump to any provider-reported state.
"""

from __future__ import annotations

from enum import StrEnum


class MessageState(StrEnum):
    """Where one outbound SMS is."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        """No transition leaves this state."""
        return not TRANSITIONS[self]


S = MessageState
TRANSITIONS: dict[MessageState, frozenset[MessageState]] = {
    S.QUEUED: frozenset({S.SENDING, S.FAILED}),
    S.SENDING: frozenset({S.QUEUED, S.SENDING, S.SENT, S.DELIVERED, S.UNDELIVERED, S.FAILED}),
    S.SENT: frozenset({S.DELIVERED, S.UNDELIVERED, S.FAILED}),
    S.DELIVERED: frozenset(),
    S.UNDELIVERED: frozenset(),
    S.FAILED: frozenset(),
}

#: Twilio's MessageStatus values that move a message, as our states (others are ignored).
PROVIDER_STATUS = {
    "sent": S.SENT,
    "delivered": S.DELIVERED,
    "undelivered": S.UNDELIVERED,
    "failed": S.FAILED,
}


def sources(target: MessageState) -> frozenset[MessageState]:
    """The states from which ``target`` may be entered."""
    return frozenset(state for state, nexts in TRANSITIONS.items() if target in nexts)
