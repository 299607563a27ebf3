"""The relay file: a volunteer is relayed by SMS to a number or by SIP MESSAGE to a device."""

from __future__ import annotations

from pathlib import Path

import pytest

from sms.relay import RelayBook, RelayError, load_relay

DEVICES = {"fiona": ["fiona"], "alice": ["alice"]}


def load(tmp_path: Path, text: str) -> RelayBook:
    path = tmp_path / "relay.toml"
    path.write_text(text)
    return load_relay(
        path,
        hash_key=b"k" * 32,
        region="CA",
        agents=DEVICES,
        languages=("fr", "en"),
        devices=DEVICES,
    )


def test_a_device_volunteer_is_reached_on_it_and_not_known_by_a_sender_hash(
    tmp_path: Path,
) -> None:
    book = load(
        tmp_path, '[agents.fiona]\ndevice = "fiona"\n[agents.alice]\nnumber = "+15145550999"\n'
    )
    assert book.by_agent["fiona"].device == "fiona"
    assert book.by_agent["fiona"].number == ""
    assert list(book.by_sender.values()) == ["alice"]


@pytest.mark.parametrize(
    "table",
    [
        'device = "alice"',  # another agent's phone
        'device = "fiona"\nnumber = "+15145550999"',  # both
    ],
)
def test_a_device_must_be_the_agent_own_and_alone(tmp_path: Path, table: str) -> None:
    with pytest.raises(RelayError, match="agent 'fiona'"):
        load(tmp_path, f"[agents.fiona]\n{table}\n")
