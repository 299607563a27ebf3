"""The supervisor screen over real HTTP with a real Redis and ACD store: who may open it, the
wallboard and agents table (live by SSE), and resetting or signing off an agent."""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

import pytest
from aiohttp import ClientResponse

from acd.config import hash_pin, load_agents
from acd.model import CallKind, Party, WaitingCall
from acd.records import Caller, Records, put
from acd.routing import AgentState
from console.supervision import AgentRow, Board, QueueTile
from core.config import ConsoleSettings, RecordsSettings
from hotline.console_desk import CALLS_TODAY_WAIT_S, AcdSupervision
from records.database import connect as connect_records
from records.today import calls_since
from tests.conftest import TESTS
from tests.consoles import Console, console_running, read_event

QUEUES = ("general", "ringall")
NUMBER = "+15145550123"


@pytest.fixture
async def console(redis_url: str, tmp_path: Path) -> AsyncIterator[Console]:
    async with console_running(redis_url, tmp_path) as running:
        yield running


async def post(console: Console, path: str, form: dict[str, str]) -> ClientResponse:
    async with console.http.post(path, data=form, allow_redirects=False) as resp:
        await resp.read()
        return resp


async def state_of(console: Console, agent: str) -> AgentState:
    view = await console.store.agent(agent)
    assert view is not None
    return view.state


def row(page: str, attribute: str, name: str) -> str:
    found = re.search(rf'<tr {attribute}="{name}">(.*?)</tr>', page, re.S)
    assert found, name
    return found.group(1)


async def test_supervisors_and_admins_open_the_supervisor_screen_volunteers_do_not(
    console: Console,
) -> None:
    await console.log_in("chen", QUEUES, time.time())
    assert await console.sign_in("alice") == 303
    for path in ("/console/supervisor", "/console/supervisor/events"):
        async with console.http.get(path) as resp:
            assert resp.status == 403, path
    csrf = await console.csrf("/console/volunteer")
    resp = await post(console, "/console/supervisor/logout", {"csrf": csrf, "agent": "chen"})
    assert resp.status == 403
    assert await state_of(console, "chen") is AgentState.AVAILABLE
    form = {"csrf": await console.csrf(), "account": "bruno", "password": "bruno-console"}
    resp = await post(console, "/console/signin", form)
    assert resp.headers["Location"] == "/console/supervisor"
    assert await console.sign_in("fiona") == 303
    async with console.http.get("/console/supervisor") as resp:
        assert resp.status == 200


async def test_the_board_shows_queues_and_agents_with_their_per_queue_pauses(
    console: Console,
) -> None:
    await console.offer_to("alice", "c1", "Green Fox", 30)  # rings Alice after a 30 s wait
    await console.log_in("chen", QUEUES, time.time() - 90)
    await console.store.pause("chen", "debrief", time.time(), "ringall")
    assert await console.sign_in("bruno") == 303
    async with console.http.get("/console/supervisor") as resp:
        page = await resp.text()
    general, ringall = row(page, "data-queue", "general"), row(page, "data-queue", "ringall")
    assert '<td data-field="on_call">1</td>' in general  # alice, rung
    assert '<td data-field="available">1</td>' in general  # chen
    assert '<td data-field="available">0</td>' in ringall  # chen paused there
    alice, chen = row(page, "data-agent", "alice"), row(page, "data-agent", "chen")
    assert '<td data-field="state">offered</td>' in alice
    assert '<td data-field="paused_in">ringall: debrief</td>' in chen
    since = re.search(r'data-since="([0-9.]+)"', chen)
    assert since
    assert time.time() - float(since.group(1)) < 60  # since the pause, not the login


async def test_the_board_is_sent_again_after_every_queue_log_entry(console: Console) -> None:
    assert await console.sign_in("bruno") == 303
    async with console.http.get("/console/supervisor/events") as resp:
        first = json.loads((await read_event(resp))["data"])
        (chen,) = [a for a in first["agents"] if a["id"] == "chen"]
        assert chen["state"] == "logged_out"
        await console.log_in("chen", QUEUES, time.time())
        event = await read_event(resp)
    assert event["event"] == "board"
    board = json.loads(event["data"])
    (chen,) = [a for a in board["agents"] if a["id"] == "chen"]
    assert chen["state"] == "available"
    (general,) = [t for t in board["tiles"] if t["queue"] == "general"]
    assert general["agents"]["available"] == 1


async def test_the_board_counts_answers_abandons_and_callbacks_and_shows_the_current_call(
    console: Console,
) -> None:
    offer = await console.offer_to("alice", "c1", "Green Fox", 12)  # answered after 12 s
    await console.store.accept(offer, "alice", time.time())
    for call_id, waited in (("c2", 2), ("c3", 40)):
        call = WaitingCall(call_id, "general", "app-1", "Blue Owl", "fr", time.time() - waited)
        await console.store.enqueue(call, time.time() - waited)
        await console.store.abandon(call_id, time.time())  # a short abandon, then a long one
    callback = WaitingCall(
        "c4", "general", "app-1", "Red Elk", "fr", time.time(), kind=CallKind.CALLBACK
    )
    await console.store.enqueue(callback, time.time())
    assert await console.sign_in("bruno") == 303
    async with console.http.get("/console/supervisor/events") as resp:
        board = json.loads((await read_event(resp))["data"])
    (general,) = [t for t in board["tiles"] if t["queue"] == "general"]
    assert (general["answered"], general["abandoned"], general["short_abandoned"]) == (1, 1, 1)
    assert general["asa_s"] == pytest.approx(12, abs=1)
    assert (general["callbacks_pending"], general["aht_s"]) == (1, None)
    (alice,) = [a for a in board["agents"] if a["id"] == "alice"]
    assert (alice["call_id"], alice["call_queue"], alice["calls_today"]) == ("c1", "general", 1)
    assert time.time() - alice["call_since"] < 10
    async with console.http.get("/console/supervisor") as resp:
        page = await resp.text()
    general_row = row(page, "data-queue", "general")
    assert '<td data-field="abandoned">1 (1)</td>' in general_row
    assert '<td data-field="callbacks_pending">1</td>' in general_row
    alice_row = row(page, "data-agent", "alice")
    assert '<span data-field="call_queue">general</span>' in alice_row
    assert '<td data-field="calls_today">1</td>' in alice_row
    assert '<td data-field="calls_today">0</td>' in row(page, "data-agent", "chen")


class Clock:
    """The console's settable time (epoch seconds)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def general_tile(board: Board) -> tuple[object, ...]:
    (tile,) = [t for t in board.tiles if t.queue == "general"]
    return (
        tile.answered,
        tile.abandoned,
        tile.short_abandoned,
        tile.asa_s,
        tile.aht_s,
        tile.service_level_pct,
    )


async def test_the_wallboard_and_calls_today_start_again_at_midnight_in_the_lines_zone(
    redis_url: str, tmp_path: Path
) -> None:
    zone = ZoneInfo("America/Toronto")
    local = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    midnight = local.timestamp()  # the last one in Toronto, 04:00 or 05:00 UTC
    clock = Clock(midnight - 5)
    settings = ConsoleSettings(time_zone="America/Toronto")
    async with console_running(redis_url, tmp_path, settings, clock=clock) as console:
        store = console.store
        await console.log_in("alice", ("general",), midnight - 200)

        async def answered(call_id: str, at: float, waited: float, talked: float) -> None:
            call = WaitingCall(call_id, "general", "app-1", "Green Fox", "fr", at)
            await store.enqueue(call, at)
            offer = await store.claim("general", at + waited)
            assert offer is not None
            await store.accept(offer.offer_id, "alice", at + waited)
            await store.complete(call_id, "alice", at + waited + talked, Party.CALLER)

        # Yesterday, in Toronto: an answer after 12 s (28 s talked), an abandon after 40 s.
        await answered("c1", midnight - 100, 12, 28)
        late = WaitingCall("c2", "general", "app-1", "Blue Owl", "fr", midnight - 50)
        await store.enqueue(late, midnight - 50)
        await store.abandon("c2", midnight - 10)
        board = await console_board(console)
        assert general_tile(board) == (1, 1, 0, 12.0, 28.0, 50.0)
        assert calls_today(board, "alice") == 1
        # Just after midnight: one answer after 5 s (30 s talked), the only call of the day.
        await answered("c3", midnight + 5, 5, 30)
        clock.now = midnight + 50
        board = await console_board(console)
        assert general_tile(board) == (1, 0, 0, 5.0, 30.0, 100.0)
        assert calls_today(board, "alice") == 1
        async with console.http.get("/console/supervisor") as resp:
            page = await resp.text()
        assert "today, since midnight (America/Toronto)." in page
        general = row(page, "data-queue", "general")
        assert '<td data-field="answered">1</td>' in general
        assert '<td data-field="abandoned">0 (0)</td>' in general
        assert '<td data-field="calls_today">1</td>' in row(page, "data-agent", "alice")
        # The counters since they began (the metrics') go on; each day's expire on their own.
        stats = await store.queue_stats("general", midnight + 50)
        assert (stats.answered, stats.abandoned, stats.completed) == (2, 1, 2)
        day = f"{console.keys.acd}:q:general:day:"
        today, yesterday = local.date(), local.date() - timedelta(days=1)
        for date in (today, yesterday):
            assert 0 < await store.redis.ttl(f"{day}{date.isoformat()}") <= 3 * 86400


async def console_board(console: Console) -> Board:
    """The board as a supervisor's screen gets it (JSON, through the console's own clock)."""
    assert await console.sign_in("bruno") == 303
    async with console.http.get("/console/supervisor/events") as resp:
        data = json.loads((await read_event(resp))["data"])
    return Board(
        tuple(QueueTile(**tile) for tile in data["tiles"]),
        tuple(AgentRow(**agent) for agent in data["agents"]),
    )


def calls_today(board: Board, agent: str) -> int | None:
    (row,) = [a for a in board.agents if a.id == agent]
    return row.calls_today


async def test_a_supervisor_resets_a_stuck_agent_with_a_reason_kept_without_numbers(
    console: Console,
) -> None:
    await console.offer_to("alice", "c1", "Green Fox", 5)
    assert await console.sign_in("bruno") == 303
    csrf = await console.csrf("/console/supervisor")
    for reason in ("", " ", "x" * 101):
        form = {"csrf": csrf, "agent": "alice", "reason": reason}
        assert (await post(console, "/console/supervisor/reset", form)).status == 400
    assert await state_of(console, "alice") is AgentState.OFFERED
    form = {"csrf": csrf, "agent": "alice", "reason": "stuck ringing, caller 514 555 0123"}
    resp = await post(console, "/console/supervisor/reset", form)
    assert resp.headers["Location"] == "/console/supervisor"
    assert await state_of(console, "alice") is AgentState.AVAILABLE
    entries = cast(
        list[tuple[str, dict[str, str]]],
        await console.store.redis.xrevrange(console.keys.acd_queue_log, count=10),
    )
    (reset,) = [fields for _, fields in entries if fields["event"] == "RESET"]
    assert reset["by"] == "bruno"
    assert "555" not in reset["reason"]
    assert reset["reason"].startswith("stuck ringing, caller ")
    form = {"csrf": csrf, "agent": "nobody", "reason": "stuck"}
    resp = await post(console, "/console/supervisor/reset", form)
    assert resp.headers["Location"] == "/console/supervisor?error=unknown-agent"


async def test_a_forced_sign_off_is_audited(console: Console) -> None:
    await console.log_in("chen", QUEUES, time.time())
    assert await console.sign_in("bruno") == 303
    csrf = await console.csrf("/console/supervisor")
    resp = await post(console, "/console/supervisor/logout", {"csrf": csrf, "agent": "chen"})
    assert resp.headers["Location"] == "/console/supervisor"
    assert await state_of(console, "chen") is AgentState.LOGGED_OUT
    records = cast(
        list[tuple[str, dict[str, str]]],
        await console.store.redis.xrange(console.keys.staff_audit),
    )
    assert [(r["actor"], r["role"], r["action"], r["target"]) for _, r in records] == [
        ("bruno", "supervisor", "forced-logout", "chen")
    ]
    await console.offer_to("alice", "c1", "Green Fox", 5)
    resp = await post(console, "/console/supervisor/logout", {"csrf": csrf, "agent": "alice"})
    assert resp.headers["Location"].startswith("/console/supervisor?error=")  # not while ringing
    assert await console.store.redis.xlen(console.keys.staff_audit) == 1


async def test_a_forced_pause_keeps_its_reason_without_numbers_and_is_audited(
    console: Console,
) -> None:
    await console.log_in("chen", QUEUES, time.time())
    assert await console.sign_in("bruno") == 303
    csrf = await console.csrf("/console/supervisor")
    for reason in ("", " ", "x" * 101):
        form = {"csrf": csrf, "agent": "chen", "reason": reason}
        assert (await post(console, "/console/supervisor/pause", form)).status == 400
    assert await state_of(console, "chen") is AgentState.AVAILABLE
    form = {"csrf": csrf, "agent": "chen", "reason": "debrief after 514 555 0123"}
    resp = await post(console, "/console/supervisor/pause", form)
    assert resp.headers["Location"] == "/console/supervisor"
    view = await console.store.agent("chen")
    assert view is not None
    assert view.state is AgentState.PAUSED
    assert view.pause_reason.startswith("debrief after ")
    assert "555" not in view.pause_reason
    records = cast(
        list[tuple[str, dict[str, str]]],
        await console.store.redis.xrange(console.keys.staff_audit),
    )
    assert [(r["actor"], r["action"], r["target"], r["reason"]) for _, r in records] == [
        ("bruno", "forced-pause", "chen", view.pause_reason)
    ]
    await console.offer_to("alice", "c1", "Green Fox", 5)
    form = {"csrf": csrf, "agent": "alice", "reason": "break"}
    resp = await post(console, "/console/supervisor/pause", form)
    assert resp.headers["Location"].startswith("/console/supervisor?error=")  # while ringing
    assert await state_of(console, "alice") is AgentState.OFFERED
    assert await console.store.redis.xlen(console.keys.staff_audit) == 1
    form = {"csrf": csrf, "agent": "nobody", "reason": "break"}
    resp = await post(console, "/console/supervisor/pause", form)
    assert resp.headers["Location"] == "/console/supervisor?error=unknown-agent"


async def connect_a_vaulted_caller(console: Console) -> str:
    """A call from ``NUMBER`` (in the vault, as the ARI side leaves it) is taken by Alice; its
    pseudonym."""
    entry = await console.vault.store(NUMBER, "fr", now=datetime.now(UTC))
    caller = Caller("c1", "general", "fr", entry.pseudonym, time.time(), caller_ref=entry.ref)
    await Records(console.store.redis, console.keys).save(put(caller))
    offer = await console.offer_to("alice", "c1", entry.pseudonym, 5)
    await console.store.accept(offer, "alice", time.time())
    return entry.pseudonym


async def test_a_supervisor_unmasks_a_callers_number_with_a_reason_and_it_is_audited(
    console: Console,
) -> None:
    pseudonym = await connect_a_vaulted_caller(console)
    assert await console.sign_in("bruno") == 303
    async with console.http.get("/console/supervisor") as resp:
        page = await resp.text()
    assert NUMBER not in page
    alice = row(page, "data-agent", "alice")
    assert '<input type="hidden" name="call" value="c1">' in alice
    csrf = await console.csrf("/console/supervisor")
    for reason in ("", "x" * 501):
        form = {"csrf": csrf, "call": "c1", "reason": reason}
        assert (await post(console, "/console/supervisor/unmask", form)).status == 400
    assert await console.store.redis.xlen(console.keys.audit) == 0
    form = {"csrf": csrf, "call": "c1", "reason": "caller at risk, ambulance needed"}
    async with console.http.post("/console/supervisor/unmask", data=form) as resp:
        assert resp.status == 200
        assert resp.headers["Cache-Control"] == "no-store"
        assert f'<strong id="unmasked-number">{NUMBER}</strong>' in await resp.text()
    async with console.http.get("/console/supervisor/audit") as resp:
        audit = await resp.text()
    assert "caller at risk, ambulance needed" in audit
    assert pseudonym in audit
    assert NUMBER not in audit
    form = {"csrf": csrf, "call": "c9", "reason": "emergency"}
    resp = await post(console, "/console/supervisor/unmask", form)
    assert resp.headers["Location"] == "/console/supervisor?error=no-such-call"


async def test_only_supervisors_unmask_though_admins_read_the_audit(console: Console) -> None:
    await connect_a_vaulted_caller(console)
    for account in ("alice", "fiona"):
        assert await console.sign_in(account) == 303
        async with console.http.get("/console/") as resp:
            csrf = await console.csrf(resp.url.path)
        form = {"csrf": csrf, "call": "c1", "reason": "curious"}
        async with console.http.post("/console/supervisor/unmask", data=form) as resp:
            assert resp.status == 403, account
            assert NUMBER not in await resp.text()
    assert await console.store.redis.xlen(console.keys.audit) == 0
    async with console.http.get("/console/supervisor/audit") as resp:
        assert resp.status == 200  # fiona, an admin
    assert await console.sign_in("alice") == 303
    async with console.http.get("/console/supervisor/audit") as resp:
        assert resp.status == 403


class CountedSupervision(AcdSupervision):
    """The real supervisor desk, counting the boards it computes."""

    boards = 0

    async def board(self) -> Board:
        CountedSupervision.boards += 1
        return await super().board()


async def test_supervisors_streams_share_one_board_per_queue_log_entry(
    redis_url: str, tmp_path: Path
) -> None:
    CountedSupervision.boards = 0
    async with console_running(redis_url, tmp_path, supervision=CountedSupervision) as console:
        assert await console.sign_in("bruno") == 303
        async with (
            console.http.get("/console/supervisor/events") as first,
            console.http.get("/console/supervisor/events") as second,
        ):
            for stream in (first, second):
                await read_event(stream)  # each stream's own board at its start
            assert CountedSupervision.boards == 2
            # One entry, as the ACD's scripts write them (a login would write several).
            entry_id = await console.store.redis.xadd(
                console.keys.acd_queue_log,
                {"time": time.time(), "event": "PAUSE", "queue": "general", "agent": "chen"},
            )
            events = [await read_event(first), await read_event(second)]
        assert [e["id"] for e in events] == [entry_id, entry_id]
        assert events[0]["data"] == events[1]["data"]
        assert CountedSupervision.boards == 3


def agents_with_gus(tmp_path: Path) -> Path:
    """The test agents and Gus, a supervisor of ``ringall`` only (password gus-console)."""
    text = (TESTS / "acd" / "agents.toml").read_text(encoding="utf-8")
    gus = f"""
[agents.gus]
name = "Gus"
role = "supervisor"
supervises = ["ringall"]
pin_hash = "{hash_pin("7777")}"
password_hash = "{hash_pin("gus-console")}"
devices = [{{ kind = "sip", address = "PJSIP/gus" }}]
queues = ["ringall"]
"""
    path = tmp_path / "agents.toml"
    path.write_text(text + gus, encoding="utf-8")
    return path


async def test_a_supervisor_sees_and_acts_on_their_own_queues_only(
    tmp_path: Path, redis_url: str
) -> None:
    agents = agents_with_gus(tmp_path)
    async with console_running(redis_url, tmp_path, agents_file=agents) as console:
        await connect_a_vaulted_caller(console)  # Alice (general, ringall...) takes c1 in general
        await console.log_in("gus", ("ringall",), time.time())
        await console.log_in("erin", ("general",), time.time())  # general only
        assert await console.sign_in("gus", "gus-console") == 303
        async with console.http.get("/console/supervisor") as resp:
            page = await resp.text()
        assert re.findall(r'<tr data-queue="([^"]+)">', page) == ["ringall"]
        shown = re.findall(r'<tr data-agent="([^"]+)">', page)
        assert "erin" not in shown
        assert {"alice", "gus"} <= set(shown)
        async with console.http.get("/console/supervisor/events") as resp:
            board = json.loads((await read_event(resp))["data"])
        assert [t["queue"] for t in board["tiles"]] == ["ringall"]
        assert "erin" not in [a["id"] for a in board["agents"]]
        csrf = await console.csrf("/console/supervisor")
        for path, form in (
            ("/console/supervisor/reset", {"agent": "erin", "reason": "stuck"}),
            ("/console/supervisor/logout", {"agent": "erin"}),
            ("/console/supervisor/pause", {"agent": "erin", "reason": "break"}),
            ("/console/supervisor/unmask", {"call": "c1", "reason": "caller at risk"}),
            ("/console/supervisor/monitor", {"call": "c1", "mode": "listen"}),
        ):
            headers = {"Accept": "application/json"}
            async with console.http.post(
                path, data={"csrf": csrf, **form}, headers=headers, allow_redirects=False
            ) as resp:
                assert resp.status == 403, path
                assert await resp.json() == {"error": "not-your-queue"}
        assert await state_of(console, "erin") is AgentState.AVAILABLE
        assert await console.store.redis.xlen(console.keys.audit) == 0
        assert await console.store.redis.xlen(console.keys.staff_audit) == 0
        # Alice serves ringall too: Gus may act on her (though not on her general call).
        resp = await post(console, "/console/supervisor/logout", {"csrf": csrf, "agent": "alice"})
        assert resp.headers["Location"].startswith("/console/supervisor?error=")  # on a call
        # A supervisor with no queues named oversees them all.
        assert await console.sign_in("bruno") == 303
        csrf = await console.csrf("/console/supervisor")
        resp = await post(console, "/console/supervisor/logout", {"csrf": csrf, "agent": "erin"})
        assert resp.headers["Location"] == "/console/supervisor"
        assert await state_of(console, "erin") is AgentState.LOGGED_OUT


async def test_a_database_that_does_not_answer_leaves_calls_today_unknown_not_the_board(
    console: Console, tmp_path: Path
) -> None:
    """A PostgreSQL address that accepts connections and never speaks: the board comes within
    its wait for the records, without calls today."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client goes away
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    engine = connect_records(RecordsSettings(url=f"postgresql+asyncpg://h@127.0.0.1:{port}/h"))
    agents = {a.id: a for a in load_agents(TESTS / "acd" / "agents.toml", console.store.queues)}
    desk = AcdSupervision(
        console.store,
        agents,
        console.vault,
        time.time,
        str,
        functools.partial(calls_since, engine, console.store.redis, console.keys),
        ZoneInfo("UTC"),
    )
    try:
        started = time.monotonic()
        board = await desk.board()
        assert time.monotonic() - started < CALLS_TODAY_WAIT_S + 2
    finally:
        await engine.dispose()
        server.close()
        await server.wait_closed()
    assert {row.calls_today for row in board.agents} == {None}
    assert [t.queue for t in board.tiles] == list(console.store.queues)


class HeldSupervision(AcdSupervision):
    """The real supervisor desk whose boards after the first outlive their streams: each
    waits until it is cancelled, and says so in ``ended``."""

    computed = 0
    held = asyncio.Event()
    ended: list[str] = []

    async def board(self) -> Board:
        HeldSupervision.computed += 1
        if HeldSupervision.computed > 1:
            HeldSupervision.held.set()
            try:
                await asyncio.sleep(3600)
            finally:
                HeldSupervision.ended.append("ended")
        return await super().board()


async def test_a_board_still_computing_when_the_console_stops_is_ended_with_it(
    redis_url: str, tmp_path: Path
) -> None:
    """A board nobody waits for any more must not outlive the app: it would reach Redis after
    the app closed its connections (and leak one)."""
    HeldSupervision.computed, HeldSupervision.held, HeldSupervision.ended = 0, asyncio.Event(), []
    async with console_running(redis_url, tmp_path, supervision=HeldSupervision) as console:
        assert await console.sign_in("bruno") == 303
        async with console.http.get("/console/supervisor/events") as stream:
            await read_event(stream)
            await console.store.redis.xadd(
                console.keys.acd_queue_log,
                {"time": time.time(), "event": "PAUSE", "queue": "general", "agent": "chen"},
            )
            await asyncio.wait_for(HeldSupervision.held.wait(), 10)
    assert HeldSupervision.ended == ["ended"]


async def tail(console: Console, query: str = "") -> list[dict[str, str]]:
    async with console.http.get(f"/console/supervisor/log{query}") as resp:
        assert resp.status == 200
        return cast(list[dict[str, str]], (await resp.json())["lines"])


async def test_the_queue_log_tail_shows_pseudonyms_never_numbers_filtered_and_own_queues(
    tmp_path: Path, redis_url: str
) -> None:
    agents = agents_with_gus(tmp_path)
    async with console_running(redis_url, tmp_path, agents_file=agents) as console:
        pseudonym = await connect_a_vaulted_caller(console)  # Alice takes c1 in general
        await console.log_in("gus", ("ringall",), time.time())
        await console.log_in("erin", ("general",), time.time())
        await console.store.pause("gus", "debrief", time.time())
        assert await console.sign_in("bruno") == 303
        lines = await tail(console)
        assert lines[0]["event"] == "PAUSE"  # newest first
        (connect,) = [line for line in lines if line["event"] == "CONNECT"]
        assert (connect["queue"], connect["agent"], connect["pseudonym"]) == (
            "general",
            "alice",
            pseudonym,
        )
        assert re.fullmatch(r"[0-9]{2}:[0-9]{2}:[0-9]{2}", connect["at"])
        async with console.http.get("/console/supervisor") as resp:
            page = await resp.text()
        assert NUMBER not in page
        assert f'<tr data-entry="{connect["id"]}">' in page
        assert f"<td>CONNECT</td><td>general</td><td>alice</td><td>{pseudonym}</td>" in page
        offers = await tail(console, "?event=OFFER")
        assert [(line["event"], line["pseudonym"]) for line in offers] == [("OFFER", pseudonym)]
        assert {line["agent"] for line in await tail(console, "?agent=erin")} == {"erin"}
        ringall = await tail(console, "?queue=ringall&event=ADDMEMBER")
        assert sorted(line["agent"] for line in ringall) == ["gus"]
        assert await tail(console, "?event=NOSUCHEVENT") == lines  # an unknown event: any
        # Gus oversees ringall: none of general's lines, nor Erin's.
        assert await console.sign_in("gus", "gus-console") == 303
        assert {line["queue"] for line in await tail(console)} == {"ringall"}
        assert await tail(console, "?agent=erin") == []


async def test_the_queue_log_tail_is_live_filtered_and_resumes_by_id(console: Console) -> None:
    assert await console.sign_in("bruno") == 303
    async with console.http.get("/console/supervisor/events?event=PAUSE") as resp:
        await read_event(resp)  # the board now
        await console.log_in("chen", QUEUES, time.time())  # two ADDMEMBERs: boards only
        await console.store.pause("chen", "break", time.time())  # a PAUSE in each queue
        events = [await read_event(resp) for _ in range(4)]
        assert [e["event"] for e in events] == ["board", "board", "board", "log"]
        first = json.loads(events[3]["data"])
    assert (first["event"], first["agent"], first["pseudonym"]) == ("PAUSE", "chen", "")
    assert first["queue"] in QUEUES
    assert first["id"] == events[3]["id"] == events[2]["id"]
    headers = {"Last-Event-ID": first["id"]}
    async with console.http.get("/console/supervisor/events?event=PAUSE", headers=headers) as resp:
        assert (await read_event(resp))["event"] == "board"
        missed = await read_event(resp)
    second = json.loads(missed["data"])
    assert missed["event"] == "log"
    assert (second["event"], second["agent"]) == ("PAUSE", "chen")
    assert {first["queue"], second["queue"]} == set(QUEUES)
