"""API bearer tokens."""

from __future__ import annotations

import pytest

from core.auth import Principal, parse_tokens


def test_tokens_parse_into_principals() -> None:
    entries = parse_tokens("ana:supervisor:0123456789abcdef, bo:agent:fedcba9876543210")
    assert [e.principal for e in entries] == [
        Principal("ana", "supervisor"),
        Principal("bo", "agent"),
    ]


@pytest.mark.parametrize(
    "spec", ["ana:boss:0123456789abcdef", "ana:agent:short", ":agent:0123456789abcdef"]
)
def test_bad_entries_are_rejected_without_echoing_the_token(spec: str) -> None:
    with pytest.raises(ValueError, match="entry 1") as info:
        parse_tokens(spec)
    assert spec.rsplit(":", 1)[1] not in str(info.value)
