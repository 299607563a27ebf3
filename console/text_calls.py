"""The screen-pop of a call to a texter: a volunteer asked to call back the texter of one of
their conversations (the chat panel's "call back", or ``#call`` by SMS) and the ACD rings
their phone. The ACD puts the call on the conversation feed (``call``, ``language``, ``at``
beside the conversation and the agent); the pop shows the conversation's pseudonym, queue and
newest messages as the chat panel shows them (numbers cut out by the SMS side), never a
number."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from console.chats import ChatLine, ChatView
from console.offers import CallContext, ContextKind

#: The conversation's newest messages a pop shows.
POP_LINES = 5


@dataclass(frozen=True)
class TextCallPop:
    """What a volunteer's screen shows when their phone rings for a call to a texter."""

    call_id: str
    conversation_id: str
    pseudonym: str
    queue: str
    #: The call's language (the conversation's).
    language: str
    context: CallContext
    #: The conversation's newest messages, oldest first.
    lines: tuple[ChatLine, ...]

    def to_json(self) -> str:
        """The ``text-call`` event's data, shaped as an offer's pop (no wait, line, menu
        choices, dispositions or flags: the call is no queue call)."""
        shown = {"waited_s": 0, "line": "", "ivr_path": "", "dispositions": [], "flags": []}
        return json.dumps({**asdict(self), **shown})


def text_call(fields: Mapping[str, str], agent_id: str) -> str | None:
    """The conversation whose texter a conversation feed entry says ``agent_id`` is rung to
    call, or None (an entry of another kind, or for another volunteer)."""
    if fields.get("agent") != agent_id or not fields.get("call"):
        return None
    return fields.get("conversation") or None


def text_call_pop(fields: Mapping[str, str], view: ChatView) -> TextCallPop:
    """The pop of the call a conversation feed entry announces, for the conversation
    ``view``."""
    asked_at = float(fields.get("at") or 0)
    return TextCallPop(
        fields.get("call", ""),
        view.id,
        view.pseudonym,
        view.queue,
        fields.get("language", ""),
        CallContext(ContextKind.TEXT, asked_at),
        view.lines[-POP_LINES:],
    )
