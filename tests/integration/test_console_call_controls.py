"""During and after a call, from the volunteer's console over real HTTP with a real Redis and
ACD store: the call's timer and the wrap-up's end in the presence, hanging up (the request
reaches the call's owner instance), and ending or extending the wrap-up in the store."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest

from acd.model import Party
from acd.routing import AgentState
from tests.consoles import Console, console_running

JSON = {"Accept": "application/json"}


@pytest.fixture
async def console(redis_url: str, tmp_path: Path) -> AsyncIterator[Console]:
    async with console_running(redis_url, tmp_path) as running:
        yield running


async def hang_up(console: Console, call_id: str) -> tuple[int, dict[str, object]]:
    data = {"csrf": await console.csrf("/console/volunteer"), "call": call_id}
    async with console.http.post("/console/hangup", data=data, headers=JSON) as resp:
        return resp.status, await resp.json()


async def inbox(console: Console) -> list[dict[str, str]]:
    """What the call's owner instance ("app-1") was asked to do."""
    entries = cast(
        list[tuple[str, dict[str, str]]],
        await console.store.redis.xrange(console.keys.acd_inbox("app-1")),
    )
    return [fields for _, fields in entries]


async def presence_action(console: Console, action: str) -> str:
    """Post a presence action; where the answer sends the browser."""
    data = {"csrf": await console.csrf("/console/volunteer"), "action": action}
    async with console.http.post("/console/presence", data=data, allow_redirects=False) as resp:
        assert resp.status == 303
        return resp.headers["Location"]


async def test_only_the_volunteer_connected_to_a_call_hangs_it_up(console: Console) -> None:
    offer = await console.offer_to("alice", "c1", "Green Fox", 5)
    assert await console.sign_in("alice") == 303
    assert await hang_up(console, "c1") == (409, {"error": "not-your-call"})  # still ringing
    answered = round(time.time(), 3)
    await console.store.accept(offer, "alice", answered)
    async with console.http.get("/console/volunteer") as resp:
        page = await resp.text()
    assert f'<p id="call-clock" data-since="{answered}">' in page  # the timer, shown
    assert await console.sign_in("bruno") == 303
    assert await hang_up(console, "c1") == (409, {"error": "not-your-call"})
    assert await hang_up(console, "c9") == (409, {"error": "not-your-call"})
    assert await inbox(console) == []
    assert await console.sign_in("alice") == 303
    assert await hang_up(console, "c1") == (200, {"hung_up": True})
    assert await inbox(console) == [{"hangup": "c1", "agent": "alice"}]


async def test_the_volunteer_extends_then_ends_their_wrap_up(console: Console) -> None:
    offer = await console.offer_to("alice", "c1", "Green Fox", 5)  # general: 10 s of wrap-up
    await console.store.accept(offer, "alice", time.time())
    assert await console.sign_in("alice") == 303
    assert await presence_action(console, "extend-wrapup") == (
        "/console/volunteer?error=not-wrapping-up"
    )
    # Ended "a minute from now", so that the queue's 1 s wrap-up outlasts the test's requests.
    ends = await console.store.complete("c1", "alice", time.time() + 60, Party.CALLER)
    assert await presence_action(console, "extend-wrapup") == "/console/volunteer"
    view = await console.store.agent("alice")
    assert view is not None
    assert view.state is AgentState.WRAP_UP
    assert view.wrapup_until == pytest.approx(ends + 60, abs=0.01)
    async with console.http.get("/console/volunteer") as resp:
        page = await resp.text()
    assert f'data-until="{view.wrapup_until}"' in page
    assert '<form method="post" action="/console/presence" id="wrapup-time" data-until' in page
    assert await presence_action(console, "end-wrapup") == "/console/volunteer"
    view = await console.store.agent("alice")
    assert view is not None
    assert view.state is AgentState.AVAILABLE
    assert await presence_action(console, "end-wrapup") == (
        "/console/volunteer?error=illegal-transition"
    )


class Clock:
    """The console's and the records store's settable time (epoch seconds)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_a_wrap_up_form_saved_in_the_extension_is_taken_until_its_new_end(
    redis_url: str, tmp_path: Path
) -> None:
    t = time.time()
    clock = Clock(t)
    async with console_running(redis_url, tmp_path, clock=clock, grace_s=0) as console:
        offer = await console.offer_to("alice", "c1", "Green Fox", 5)
        await console.store.accept(offer, "alice", t + 1)
        ends = await console.store.complete("c1", "alice", t + 61, Party.CALLER)  # 1 s of wrap-up
        assert ends == pytest.approx(t + 62, abs=0.01)
        assert await console.sign_in("alice") == 303
        clock.now = t + 61.5
        assert await presence_action(console, "extend-wrapup") == "/console/volunteer"
        view = await console.store.agent("alice")
        assert view is not None
        assert view.wrapup_until == pytest.approx(t + 122, abs=0.01)
        async with console.http.get("/console/volunteer") as resp:
            assert f'data-until="{view.wrapup_until}"' in await resp.text()  # the countdown
        csrf = await console.csrf("/console/volunteer")
        form = {"csrf": csrf, "call": "c1", "disposition": "crisis", "notes": "Calmer."}
        clock.now = t + 100  # past the first end, within the extension
        async with console.http.post("/console/wrapup", data=form, headers=JSON) as resp:
            assert (resp.status, await resp.json()) == (200, {"saved": True})
        clock.now = t + 123  # past the extended end (no grace here)
        async with console.http.post("/console/wrapup", data=form, headers=JSON) as resp:
            assert (resp.status, await resp.json()) == (409, {"error": "wrapup-closed"})
        [saved] = await console.wrapups.read("c1")
        assert (saved.agent, saved.disposition, saved.notes) == ("alice", "crisis", "Calmer.")
