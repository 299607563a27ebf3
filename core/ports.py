"""The ports through which one feature reaches another, and the plain data they carry.

A feature imports these Protocols, never another feature; the wiring (``hotline.app``,
``hotline.cli``) passes each feature the other's service. The ACD's chat router serves
``ChatRouting`` and ``DropChat`` to the SMS side; the SMS side's conversations and request desk
serve ``TextConversations`` and ``RequestConfirmations`` to the IVR and the ACD.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final, Protocol

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from core.keys import Keys


class Refused(Exception):
    """An operation a feature refused; ``code`` is machine-readable (e.g. "unknown-agent")."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code, self.detail = code, detail


# The IVR hands a call to the ACD with its variables; these two are for the screen-pop.

#: The line the caller dialled (one of the hotline's own numbers, never the caller's).
LINE_VARIABLE: Final = "line"
#: The caller's menu choices, readable ("language: fr > main_menu: 2 (youth)").
IVR_PATH_VARIABLE: Final = "ivr_path"


# Chat routing: the SMS side's conversations as chat tasks of the ACD.


class ChatState(StrEnum):
    """Where a conversation is in the ACD."""

    WAITING = "waiting"
    ASSIGNED = "assigned"
    ENDED = "ended"


@dataclass(frozen=True)
class Assignment:
    """A conversation given to an agent."""

    conversation_id: str
    agent_id: str


@dataclass(frozen=True)
class ChatResult:
    """A conversation's state after an operation, and every conversation the operation gave
    to an agent (the conversation itself included, if it was)."""

    state: ChatState
    queue: str
    agent_id: str | None
    assigned: tuple[Assignment, ...]


class ChatRouting(Protocol):
    """Assigns conversations to agents of chat queues (``acd.chat.ChatRouter``)."""

    async def offer(self, conversation_id: str, queue: str, now: float) -> ChatResult:
        """Give a new conversation to a free agent of ``queue``, or let it wait."""

    async def finish(self, conversation_id: str, now: float, ttl: int) -> ChatResult:
        """End a conversation, freeing its agent's slot; the task is kept ``ttl`` seconds."""

    async def transfer(
        self, conversation_id: str, now: float, *, queue: str = "", agent: str = ""
    ) -> ChatResult:
        """Move a conversation to ``agent`` (``Refused`` if they have no free slot) or to the
        next free agent of ``queue``."""

    async def dispatch(self, queue: str, now: float) -> tuple[Assignment, ...]:
        """Hand waiting conversations of ``queue`` to agents with free slots."""

    async def agent_of(self, conversation_id: str) -> str | None:
        """The agent holding a conversation, or None."""

    async def conversations(self, agent_id: str) -> list[str]:
        """The conversations an agent holds."""


class DropChat(Protocol):
    """Forget a conversation's chat task and free its slot (retention; ``acd.chat.drop``)."""

    async def __call__(self, client: aioredis.Redis, keys: Keys, conversation_id: str) -> None: ...


class ForgetDonors(Protocol):
    """Clear the donor details of the pledges last changed before ``before`` (epoch seconds)
    in the records database (retention; ``pledges.retention.forget_donors``); how many."""

    async def __call__(self, engine: AsyncEngine, before: float) -> int: ...


class TexterCalls(Protocol):
    """Keeps a volunteer who asked to call a texter out of queue routing until that call
    ends (``acd.texter_calls.TexterCalls``)."""

    async def hold(self, call_id: str, agent_id: str, now: float) -> None:
        """Take the volunteer out of queue routing for ``call_id``; ``Refused``
        ("not-available") unless they are available (not paused, on a call, logged out)."""

    async def release(self, call_id: str, agent_id: str, now: float) -> None:
        """Give the volunteer back to queue routing: the call will not be made."""


# Voice to text: the IVR and the ACD hand callers to the SMS side.


class TextConversations(Protocol):
    """Where a caller goes on by text (``sms.conversations.Conversations``)."""

    async def open_from_call(
        self,
        caller_ref: str,
        pseudonym: str,
        language: str,
        waiting_since: float,
        context: Mapping[str, str],
    ) -> str:
        """Open (or continue) the caller's conversation with the call's context, placed by
        ``waiting_since``, and tell them by SMS; its id."""


class RecordedRequest(Protocol):
    """What the voice side reads of a recorded request."""

    @property
    def reference(self) -> str:
        """The short reference its confirmation SMS carries."""


class RequestConfirmations(Protocol):
    """Records a caller's request and confirms it by SMS (``sms.requests.RequestDesk``)."""

    async def record_request(
        self,
        kind: str,
        caller_ref: str,
        language: str,
        details: Mapping[str, str],
        now: datetime,
    ) -> RecordedRequest:
        """Store the request with a fresh reference and queue its confirmation SMS."""


# Pledges: the telethon side learns from the records which call an operator took.


@dataclass(frozen=True)
class TakenCall:
    """A call as an operator took it: who called (keyed reference, never the number), on
    which line, in which queue, and until when its wrap-up may be written."""

    call_id: str
    #: Keyed reference to the caller ("" for a withheld number).
    caller_key: str
    pseudonym: str
    language: str
    #: The number dialled (one of the hotline's DIDs).
    line: str
    queue: str
    #: Epoch seconds after which the operator's wrap-up is closed (None: on the call still).
    closes_at: float | None


class TakenCalls(Protocol):
    """The calls operators answered (``records.wrapups.Wrapups.taken``)."""

    async def taken(self, call_id: str, agent: str) -> TakenCall:
        """The call ``agent`` answered; ``ApiError`` 404 no-such-call or 403 not-your-call."""


class CallerRefs(Protocol):
    """The vault ref of a call's caller while the ACD still holds the call (``acd.records``)."""

    async def caller_ref(self, call_id: str) -> str | None:
        """The caller's vault ref, or None (withheld number, or a call long gone)."""


class TextSender(Protocol):
    """Queues an SMS through the outbound pipeline (``sms.outbox.Outbox``): one message per
    ``key`` however often it is asked."""

    async def send_text(self, to_ref: str, body: str, *, language: str, key: str) -> str:
        """Queue ``body`` for the vault ref ``to_ref``; the message id (the first one's)."""

    async def send_again(self, first_key: str, body: str, *, language: str, key: str) -> str | None:
        """Queue ``body`` for the recipient of the message queued under ``first_key``; None
        when the outbox no longer holds that message (past its retention)."""
