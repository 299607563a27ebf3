"""Volunteers who take conversations on their own phone: the relay file.

``[agents.ID] number = "+15145550999", language = "fr"`` relays by SMS; ``device = "fiona"``
instead relays as SIP MESSAGEs to one of the agent's own SIP devices (``PJSIP/fiona``). The
numbers stay in this file and in memory (and, once texted, in the vault like any recipient);
Redis and logs only ever see the agent id. An inbound SMS is recognised as a volunteer's by its
sender's keyed hash.
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from core.privacy import InvalidNumber, normalize
from sms.recipients import sender_key


class RelayError(ValueError):
    """An invalid relay file; the message names the file and agent, never a number."""


@dataclass(frozen=True)
class RelayVolunteer:
    """An agent reached by SMS (``number``) or on a SIP device (``device``, the other "")."""

    agent_id: str
    number: str = field(repr=False)
    language: str
    device: str = ""


@dataclass(frozen=True)
class RelayBook:
    """Relay volunteers by agent id and by the keyed hash of their number."""

    by_agent: Mapping[str, RelayVolunteer] = field(default_factory=dict)
    by_sender: Mapping[str, str] = field(default_factory=dict, repr=False)


def load_relay(
    path: Path,
    *,
    hash_key: bytes,
    region: str,
    agents: Collection[str],
    languages: Collection[str],
    devices: Mapping[str, Collection[str]],
) -> RelayBook:
    """Read and check a relay file: known agents, valid numbers or the agent's own SIP device
    (``devices``: each agent's device names), configured languages."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RelayError(f"{path}: cannot read the relay file: {exc}") from exc
    by_agent: dict[str, RelayVolunteer] = {}
    for agent_id, table in dict(data.get("agents", {})).items():
        where = f"{path}: agent '{agent_id}'"
        if agent_id not in agents:
            raise RelayError(f"{where}: not in the agent file")
        if not isinstance(table, dict) or set(table) - {"number", "device", "language"}:
            raise RelayError(f"{where}: expected only 'number' or 'device', and 'language'")
        language = str(table.get("language", next(iter(languages))))
        if language not in languages:
            raise RelayError(f"{where}: language '{language}' is not configured")
        if "device" in table:
            device = str(table["device"])
            if "number" in table or device not in devices.get(agent_id, ()):
                raise RelayError(f"{where}: 'device' is not one of the agent's SIP devices")
            by_agent[agent_id] = RelayVolunteer(agent_id, "", language, device)
            continue
        try:
            number = normalize(str(table.get("number", "")), region)
        except InvalidNumber:
            raise RelayError(f"{where}: 'number' is not a valid phone number") from None
        by_agent[agent_id] = RelayVolunteer(agent_id, number, language)
    texted = [v for v in by_agent.values() if v.number]
    by_sender = {sender_key(v.number, hash_key): v.agent_id for v in texted}
    if len(by_sender) != len(texted):
        raise RelayError(f"{path}: two agents share one number")
    return RelayBook(by_agent, by_sender)
