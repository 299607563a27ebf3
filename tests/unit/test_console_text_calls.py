"""The pop of a call to a texter, from the conversation feed's entry and the conversation."""

from __future__ import annotations

import json

from console.chats import ChatLine, ChatView
from console.text_calls import POP_LINES, text_call, text_call_pop

CALL = {"conversation": "c1", "agent": "alice", "call": "txtr1", "language": "fr", "at": "12.5"}


def test_only_a_call_entry_for_the_volunteer_pops() -> None:
    assert text_call(CALL, "alice") == "c1"
    assert text_call(CALL, "bruno") is None
    assert text_call({"conversation": "c1", "agent": "alice"}, "alice") is None  # a message


def test_the_pop_shows_the_conversation_and_its_newest_lines() -> None:
    lines = tuple(ChatLine(float(i), "caller", f"message {i}") for i in range(POP_LINES + 2))
    view = ChatView("c1", "Brave Otter", "general", "open", "alice", lines)
    data = json.loads(text_call_pop(CALL, view).to_json())
    assert (data["call_id"], data["conversation_id"]) == ("txtr1", "c1")
    assert (data["pseudonym"], data["queue"], data["language"]) == ("Brave Otter", "general", "fr")
    assert data["context"] == {"kind": "text", "asked_at": 12.5}
    assert [line["body"] for line in data["lines"]] == [f"message {i}" for i in range(2, 7)]
    assert (data["dispositions"], data["flags"]) == ([], [])
