"""A volunteer transfers the call they are on from the console, over real HTTP with a real
Redis and ACD store: the request reaches the call's owner instance like the staff API's."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest

from tests.consoles import Console, console_running

JSON = {"Accept": "application/json"}


@pytest.fixture
async def console(redis_url: str, tmp_path: Path) -> AsyncIterator[Console]:
    async with console_running(redis_url, tmp_path) as running:
        yield running


async def transfer(console: Console, form: dict[str, str]) -> tuple[int, dict[str, str]]:
    csrf = await console.csrf("/console/volunteer")
    data = {"csrf": csrf, **form}
    async with console.http.post("/console/transfer", data=data, headers=JSON) as resp:
        return resp.status, await resp.json()


async def inbox(console: Console) -> list[dict[str, str]]:
    """What the call's owner instance ("app-1") was asked to do."""
    entries = cast(
        list[tuple[str, dict[str, str]]],
        await console.store.redis.xrange(console.keys.acd_inbox("app-1")),
    )
    return [fields for _, fields in entries]


async def test_the_volunteer_on_a_call_transfers_it_to_a_queue(console: Console) -> None:
    offer = await console.offer_to("alice", "c1", "Green Fox", 5)
    assert await console.sign_in("alice") == 303
    assert await transfer(console, {"call": "c1", "queue": "ringall"}) == (
        409,
        {"error": "not-your-call"},  # still ringing: not connected yet
    )
    await console.store.accept(offer, "alice", time.time())
    status, answer = await transfer(console, {"call": "c1", "queue": "nowhere"})
    assert (status, answer) == (409, {"error": "unknown-queue"})
    assert await transfer(console, {"call": "c1", "queue": "ringall"}) == (
        200,
        {"transferred": "ringall"},
    )
    assert await inbox(console) == [{"transfer": "c1", "to": "queue:ringall"}]


async def test_a_transfer_to_a_supervisor_rings_an_available_one(console: Console) -> None:
    offer = await console.offer_to("alice", "c1", "Green Fox", 5)
    await console.store.accept(offer, "alice", time.time())
    assert await console.sign_in("alice") == 303
    status, answer = await transfer(console, {"call": "c1", "to": "supervisor"})
    assert (status, answer) == (409, {"error": "no-supervisor-available"})
    await console.log_in("bruno", ("general",), time.time())
    status, answer = await transfer(console, {"call": "c1", "to": "supervisor"})
    assert (status, answer) == (200, {"transferred": "bruno"})
    assert await inbox(console) == [{"transfer": "c1", "to": "agent:bruno"}]


async def test_only_the_calls_own_volunteer_transfers_it(console: Console) -> None:
    offer = await console.offer_to("alice", "c1", "Green Fox", 5)
    await console.store.accept(offer, "alice", time.time())
    assert await console.sign_in("bruno") == 303
    status, answer = await transfer(console, {"call": "c1", "queue": "ringall"})
    assert (status, answer) == (409, {"error": "not-your-call"})
    assert await inbox(console) == []
