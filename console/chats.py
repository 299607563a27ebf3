"""The volunteer's chat panel: their open text conversations, by pseudonym, never a number."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Protocol

#: The error id of a conversation the volunteer does not hold (or that does not exist).
NOT_YOURS = "not-your-conversation"


@dataclass(frozen=True)
class ChatLine:
    """One message: ``author`` is "caller", "agent" or "system"."""

    at: float
    author: str
    body: str


@dataclass(frozen=True)
class ChatView:
    """A conversation as its volunteer's panel shows it."""

    id: str
    pseudonym: str
    queue: str
    #: "open" or "ended".
    state: str
    #: The agent holding it ("" if none: waiting, or gone to another).
    agent: str
    lines: tuple[ChatLine, ...]
    #: The queue's ready-made replies in the conversation's language.
    canned: tuple[str, ...] = ()

    def to_json(self) -> str:
        """The ``chat`` event's data."""
        return json.dumps(asdict(self))


class ChatDesk(Protocol):
    """The text conversations behind the chat panel."""

    async def held(self, agent_id: str) -> list[ChatView]:
        """The conversations ``agent_id`` holds, oldest first."""

    async def view(self, conversation_id: str) -> ChatView | None:
        """A conversation, or None if unknown or purged."""

    async def open_ones(self) -> list[ChatView]:
        """The open conversations, most recently active first, without their messages."""

    async def audit_reading(self, conversation_id: str, by: str, role: str) -> None:
        """Note in the staff audit trail that ``by`` reads the conversation (once a while:
        a page and its live events are one reading)."""

    async def reply(self, conversation_id: str, agent_id: str, text: str) -> None:
        """Text ``text`` to the conversation's caller from the hotline number, as the agent
        holding it (``core.api.ApiError`` with the refusal's status and id otherwise)."""

    async def end(self, conversation_id: str, agent_id: str) -> None:
        """End the agent's conversation (``ApiError`` if refused)."""

    async def call_back(self, conversation_id: str, agent_id: str) -> str:
        """Ask for a call to the conversation's caller through the masked bridge that an SMS
        volunteer's ``#call`` asks for; the request's short reference (``ApiError`` if
        refused)."""
