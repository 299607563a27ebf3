"""Queue and agent files: validation with the file and queue/agent named, PIN hashes."""

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from acd.config import (
    DEMO_AGENTS,
    DEMO_QUEUES,
    AcdConfigError,
    DeviceKind,
    OverflowKind,
    Strategy,
    WideningRule,
    canned_replies,
    hash_pin,
    load_agents,
    load_queues,
    parse_agents,
    parse_queues,
    verify_pin,
)
from core.config import load_settings

QUEUES: dict[str, Any] = tomllib.loads(DEMO_QUEUES.read_text(encoding="utf-8"))
AGENTS: dict[str, Any] = tomllib.loads(DEMO_AGENTS.read_text(encoding="utf-8"))


def rule(after_s: float, min_level: int) -> dict[str, float]:
    return {"after_s": after_s, "min_level": min_level}


def test_demo_files_load() -> None:
    queues = load_queues(DEMO_QUEUES)
    general = queues["general"]
    assert general.strategy is Strategy.LONGEST_IDLE
    assert general.widening == (WideningRule(0, 4), WideningRule(30, 2), WideningRule(90, 1))
    assert general.overflow.kind is OverflowKind.CALLBACK
    assert general.flags == ("risk", "frequent-caller", "abusive")
    assert set(general.canned) == {"en", "fr"}
    assert "Je lis votre message." in general.canned["fr"][0]
    assert queues["crisis"].strategy is Strategy.RING_ALL
    assert queues["crisis"].priority == 10
    agents = load_agents(DEMO_AGENTS, queues)
    assert [a.id for a in agents] == ["alice", "bruno", "chen", "dana", "erin", "farid", "gaby"]
    assert agents[0].skills == {"listening": 5, "fr": 4}
    assert agents[1].wrapup_s == 20
    assert agents[3].devices[0].kind is DeviceKind.EXTERNAL
    assert "+1514" not in repr(agents[3])
    roles = ["agent", "agent", "agent", "supervisor", "agent", "agent", "admin"]
    assert [a.role for a in agents] == roles
    assert [(a.queues, a.nailed_up) for a in agents[4:6]] == [(("telethon",), True)] * 2
    assert agents[6].queues == ()  # the admin takes no calls
    assert all(a.password_hash.startswith("$argon2id$") for a in agents)
    assert "argon2" not in repr(agents[0])


def test_pins_are_hashed_and_verified() -> None:
    agent = load_agents(DEMO_AGENTS)[0]
    assert verify_pin(agent, "1111")
    assert not verify_pin(agent, "1112")
    assert hash_pin("1111") != hash_pin("1111")  # salted


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"strategy": "leastrecent"}, "queue 'general': 'strategy' must be one of"),
        ({"ring_timeout_s": 0}, "queue 'general': 'ring_timeout_s' must be a number >= 1"),
        ({"max_misses": 0}, "queue 'general': 'max_misses' must be an integer from 1"),
        ({"overflow": {"kind": "queue", "target": "nowhere"}}, "unknown queue 'nowhere'"),
        ({"overflow": {"kind": "queue"}}, "overflow of kind 'queue' needs a 'target'"),
        ({"overflow": {"kind": "queue", "target": "general"}}, "overflow goes to the queue itself"),
        ({"widening": [rule(30, 2), rule(10, 1)]}, "rising after_s"),
        ({"widening": [rule(0, 2), rule(10, 3)]}, "non-rising"),
        ({"widening": [rule(0, 6)]}, "'min_level' must be an integer from 1 to 5"),
        ({"colour": "red"}, "queue 'general': unknown key 'colour'"),
        ({"priority": 100}, "'priority' must be an integer from -99 to 99"),
        ({"join_empty": "yes"}, "'join_empty' must be true or false"),
        ({"dispositions": []}, "'dispositions' must be a non-empty list of strings"),
        ({"dispositions": ["ok", "no way"]}, "'dispositions' must be a non-empty list"),
        ({"flags": "risk"}, "'flags' must be a list of distinct strings"),
        ({"flags": ["risk", "no way"]}, "'flags' must be a list"),
        ({"flags": ["risk", "risk"]}, "'flags' must be a list"),
        ({"canned": "Hello"}, "'canned' must be a list of replies, or a table of such lists"),
        ({"canned": ["Hi", "  "]}, "'canned' must be a list of at most 50 distinct, non-blank"),
        ({"canned": ["Hi", "Hi"]}, "'canned' must be a list"),
        ({"canned": ["x" * 1601]}, "strings of at most 1600 characters"),
        ({"canned": [f"reply {n}" for n in range(51)]}, "'canned' must be a list"),
        ({"canned": {"en": ["Hi"], "fr": "Salut"}}, "'canned.fr' must be a list of at most 50"),
        ({"canned": {"fr": ["Salut", "Salut"]}}, "'canned.fr' must be a list"),
        ({"canned": {"fr": ["x" * 1601]}}, "'canned.fr' must be a list"),
        ({"canned": {"French": ["Salut"]}}, "'canned' language 'French' must match [a-z]{2,3}"),
        ({"canned": {"de": ["Hallo"]}}, "'canned' language 'de' is not one of en, fr"),
        ({"language": "French"}, "'language' must be a string matching [a-z]{2,3}"),
        ({"language": "de"}, "'language' 'de' is not one of en, fr"),
    ],
)  # fmt: skip
def test_invalid_queue_names_file_and_queue(change: dict[str, Any], message: str) -> None:
    data = copy.deepcopy(QUEUES)
    data["queues"]["general"].update(change)
    with pytest.raises(AcdConfigError, match=r"^queues\.toml: ") as info:
        parse_queues(data, source="queues.toml", languages=("en", "fr"))
    assert message in str(info.value)


def test_fifty_canned_replies_are_allowed_in_each_language() -> None:
    data = copy.deepcopy(QUEUES)
    fifty = [f"reply {n}" for n in range(50)]
    data["queues"]["general"]["canned"] = {"en": fifty, "fr": fifty}
    general = parse_queues(data, source="queues.toml", languages=("en", "fr"))["general"]
    assert general.canned == {"en": tuple(fifty), "fr": tuple(fifty)}


def test_a_conversation_gets_its_languages_canned_replies_else_the_queues_else_any() -> None:
    data = copy.deepcopy(QUEUES)
    data["queues"]["support-fr"]["canned"] = {"es": ["Hola"], "fr": ["Bonjour"]}
    data["queues"]["support-fr"]["language"] = "fr"
    data["queues"]["telethon"]["canned"] = {"fr": ["Merci"], "es": ["Gracias"]}
    data["queues"]["crisis"]["canned"] = ["Hello / Bonjour"]
    queues = parse_queues(data, source="queues.toml")  # no line languages given: any code
    general, support, crisis = queues["general"], queues["support-fr"], queues["crisis"]
    telethon = queues["telethon"]
    assert canned_replies(general, "fr", "en") == general.canned["fr"]
    assert canned_replies(general, "en", "fr") == general.canned["en"]
    assert canned_replies(general, "es", "fr") == general.canned["fr"]  # the line's default
    assert canned_replies(support, "es", "en") == ("Hola",)
    assert canned_replies(support, "en", "es") == ("Bonjour",)  # the queue's own language
    assert canned_replies(telethon, "en", "es") == ("Gracias",)  # none: the line's default
    assert canned_replies(telethon, "en", "en") == ("Merci",)  # the first listed
    assert canned_replies(crisis, "fr", "en") == ("Hello / Bonjour",)  # a list: any language
    data["queues"]["telethon"].pop("canned")
    bare = parse_queues(data, source="queues.toml")["telethon"]
    assert canned_replies(bare, "fr", "en") == ()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pin_hash": "1234"}, "agent 'bruno': 'pin_hash' must be an argon2 hash"),
        ({"skills": {"fr": 7}}, "agent 'bruno': 'fr' must be an integer from 1 to 5"),
        ({"skills": {"f r": 2}}, "skill name 'f r'"),
        ({"devices": []}, "'devices' must be a non-empty list"),
        ({"devices": [{"kind": "fax", "address": "x"}]}, "'kind' must be one of sip, external"),
        ({"queues": ["general", "nowhere"]}, "agent 'bruno': member of unknown queue 'nowhere'"),
        ({"extension": 100}, "unknown key 'extension'"),
        ({"password_hash": "secret"}, "agent 'bruno': 'password_hash' must be an argon2 hash"),
        ({"role": "root"}, "agent 'bruno': 'role' must be one of agent, supervisor, admin"),
        ({"supervises": ["general"]}, "agent 'bruno': 'supervises' is for a supervisor"),
        (
            {"role": "supervisor", "supervises": ["nowhere"]},
            "agent 'bruno': supervises unknown queue 'nowhere'",
        ),
        ({"role": "admin", "supervises": "general"}, "'supervises' must be a list of queue"),
    ],
)
def test_invalid_agent_names_file_and_agent(change: dict[str, Any], message: str) -> None:
    data = copy.deepcopy(AGENTS)
    data["agents"]["bruno"].update(change)
    with pytest.raises(AcdConfigError, match=r"^agents\.toml: ") as info:
        parse_agents(data, source="agents.toml", queues=parse_queues(QUEUES, source="q"))
    assert message in str(info.value)


def test_a_queue_supervisor_must_be_an_agent() -> None:
    queues = copy.deepcopy(QUEUES)
    queues["queues"]["general"]["supervisor"] = "bruno"
    parsed = parse_queues(queues, source="q")
    assert parsed["general"].supervisor == "bruno"
    parse_agents(AGENTS, source="agents.toml", queues=parsed)
    queues["queues"]["general"]["supervisor"] = "zoe"
    with pytest.raises(AcdConfigError, match="queue 'general': supervisor 'zoe' is no agent"):
        parse_agents(AGENTS, source="agents.toml", queues=parse_queues(queues, source="q"))


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(AcdConfigError, match="cannot read"):
        load_queues(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[queues.x\n")
    with pytest.raises(AcdConfigError, match=r"bad\.toml: invalid TOML"):
        load_queues(bad)
    bad.write_text("[other]\n")
    with pytest.raises(AcdConfigError, match=r"bad.toml: expected only a \[queues.NAME\]"):
        load_queues(bad)


def test_settings_acd_section_resolves_relative_paths(tmp_path: Path) -> None:
    config = tmp_path / "hotline.toml"
    config.write_text('[acd]\nqueues = "q.toml"\nagents = "/srv/agents.toml"\n')
    settings = load_settings(config, env={})
    assert settings.acd.queues == tmp_path / "q.toml"
    assert settings.acd.agents == Path("/srv/agents.toml")
    assert load_settings(None, env={}).acd.queues == DEMO_QUEUES
