"""The console over real HTTP with a real Redis and ACD store: the session cookie's flags,
sign-in and sign-out, CSRF on every form, sign-in limits per account and per address, session
expiry, presence through the ACD, the API still bearer-only, and screen-pops by SSE."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from multidict import MultiDict

from acd.routing import AgentState
from core.config import ConsoleSettings
from tests.conftest import CALLER
from tests.consoles import API_TOKEN, Console, console_running, read_event


@pytest.fixture
async def console(redis_url: str, tmp_path: Path) -> AsyncIterator[Console]:
    async with console_running(redis_url, tmp_path) as running:
        yield running


async def state_of(console: Console, agent: str) -> tuple[AgentState, str]:
    view = await console.store.agent(agent)
    assert view is not None
    return view.state, view.pause_reason


async def post(console: Console, path: str, form: dict[str, str]) -> ClientResponse:
    async with console.http.post(path, data=form, allow_redirects=False) as resp:
        await resp.read()
        return resp


async def test_signing_in_starts_a_new_strict_httponly_session_and_signing_out_ends_it(
    console: Console,
) -> None:
    async with console.http.get("/console/", allow_redirects=False) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == "/console/signin"
    await console.csrf()
    before = console.http.session.cookie_jar.filter_cookies(console.http.make_url("/console/"))
    async with console.http.post(
        "/console/signin",
        data={"csrf": await console.csrf(), "account": "alice", "password": "alice-console"},
        allow_redirects=False,
    ) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == "/console/volunteer"
        cookie = resp.headers["Set-Cookie"]
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=28800"):
        assert flag in cookie
    assert "Secure" not in cookie
    after = console.http.session.cookie_jar.filter_cookies(console.http.make_url("/console/"))
    name = console.keys.console_session
    assert after[name].value != before[name].value  # no session fixation
    async with console.http.get("/console/volunteer") as resp:
        page = await resp.text()
    assert resp.status == 200
    assert "Alice" in page
    assert "(agent)" in page
    csrf = await console.csrf("/console/volunteer")
    assert (await post(console, "/console/signout", {"csrf": csrf})).status == 303
    async with console.http.get("/console/volunteer", allow_redirects=False) as resp:
        assert resp.headers["Location"] == "/console/signin"
    # The signed-out session's cookie, presented again, is worth nothing.
    console.http.session.cookie_jar.update_cookies({name: after[name].value})
    async with console.http.get("/console/volunteer", allow_redirects=False) as resp:
        assert resp.headers["Location"] == "/console/signin"


async def test_signing_out_everywhere_ends_every_session_of_the_account(console: Console) -> None:
    # A second browser on the same server.
    other = TestClient(cast(TestServer, console.http.server))
    async with other:
        laptop, phone = console, dataclasses.replace(console, http=other)
        assert await laptop.sign_in("alice") == 303
        assert await phone.sign_in("alice") == 303
        csrf = await laptop.csrf("/console/volunteer")
        assert (await post(laptop, "/console/signout", {"csrf": csrf})).status == 303
        async with phone.http.get("/console/volunteer", allow_redirects=False) as resp:
            assert resp.status == 200  # a plain sign-out ends this session only
        assert await laptop.sign_in("alice") == 303
        csrf = await phone.csrf("/console/volunteer")
        form = {"csrf": csrf, "everywhere": "1"}
        assert (await post(phone, "/console/signout", form)).status == 303
        for each in (laptop, phone):
            async with each.http.get("/console/volunteer", allow_redirects=False) as resp:
                assert resp.headers["Location"] == "/console/signin"
        assert not await console.store.redis.exists(console.keys.console_signed_in("alice"))


async def test_a_supervisor_signs_in_with_their_role(console: Console) -> None:
    assert await console.sign_in("bruno") == 303
    async with console.http.get("/console/volunteer") as resp:
        assert "(supervisor)" in await resp.text()


async def test_the_cookie_is_secure_when_the_console_is_served_over_tls(
    redis_url: str, tmp_path: Path
) -> None:
    async with (
        console_running(redis_url, tmp_path, ConsoleSettings(secure_cookie=True)) as console,
        console.http.get("/console/signin") as resp,
    ):
        assert "Secure" in resp.headers["Set-Cookie"]


async def test_wrong_passwords_and_unknown_accounts_are_refused_alike(console: Console) -> None:
    for account, password in (("alice", "nope"), ("nobody", "alice-console"), ("chen", "x")):
        async with console.http.post(
            "/console/signin",
            data={"csrf": await console.csrf(), "account": account, "password": password},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 401
            assert "Wrong id or password." in await resp.text()
    async with console.http.get("/console/volunteer", allow_redirects=False) as resp:
        assert resp.status == 303


async def test_every_form_needs_the_sessions_csrf_token(console: Console) -> None:
    signin = {"account": "alice", "password": "alice-console"}
    assert (await post(console, "/console/signin", signin)).status == 403
    assert (await post(console, "/console/signin", {**signin, "csrf": "forged"})).status == 403
    assert await console.sign_in("alice") == 303
    for form in ({"action": "available"}, {"action": "available", "csrf": "forged"}):
        assert (await post(console, "/console/presence", form)).status == 403
    assert await state_of(console, "alice") == (AgentState.LOGGED_OUT, "")
    assert (await post(console, "/console/signout", {})).status == 403
    async with console.http.get("/console/volunteer", allow_redirects=False) as resp:
        assert resp.status == 200  # still signed in


async def test_failed_sign_ins_are_limited_per_account(redis_url: str, tmp_path: Path) -> None:
    limits = ConsoleSettings(attempts_per_account=3, attempts_per_address=10)
    async with console_running(redis_url, tmp_path, limits) as console:
        for _ in range(3):
            assert await console.sign_in("alice", "wrong") == 401
        assert await console.sign_in("alice") == 429  # even with the right password
        assert await console.sign_in("bruno") == 303  # another account from the same address
        ttl = await console.store.redis.ttl(console.keys.console_failures("account", "alice"))
        assert 0 < ttl <= 300


async def test_failed_sign_ins_are_limited_per_address(redis_url: str, tmp_path: Path) -> None:
    limits = ConsoleSettings(attempts_per_account=10, attempts_per_address=3)
    async with console_running(redis_url, tmp_path, limits) as console:
        for account in ("alice", "bruno", "nobody"):
            assert await console.sign_in(account, "wrong") == 401
        assert await console.sign_in("bruno") == 429


async def test_sessions_expire(redis_url: str, tmp_path: Path) -> None:
    async with console_running(redis_url, tmp_path, ConsoleSettings(session_s=1)) as console:
        assert await console.sign_in("alice") == 303
        cookie = console.http.session.cookie_jar.filter_cookies(console.http.make_url("/console/"))
        session_key = f"{console.keys.console_session}_{cookie[console.keys.console_session].value}"
        assert 0 < await console.store.redis.pttl(session_key) <= 1000
        async with console.http.get("/console/volunteer", allow_redirects=False) as resp:
            assert resp.status == 200
        await asyncio.sleep(1.2)
        async with console.http.get("/console/volunteer", allow_redirects=False) as resp:
            assert resp.status == 303
            assert resp.headers["Location"] == "/console/signin"


async def test_presence_goes_through_the_acd(console: Console) -> None:
    assert await console.sign_in("alice") == 303

    async def act(**form: str) -> ClientResponse:
        csrf = await console.csrf("/console/volunteer")
        return await post(console, "/console/presence", {"csrf": csrf, **form})

    assert (await act(action="available")).status == 303
    assert await state_of(console, "alice") == (AgentState.AVAILABLE, "")
    assert (await act(action="pause", reason="meal")).status == 303
    assert await state_of(console, "alice") == (AgentState.PAUSED, "meal")
    async with console.http.get("/console/volunteer") as resp:
        page = await resp.text()
    assert 'data-state="paused"' in page
    assert "(meal)" in page
    assert (await act(action="pause", reason=" ")).status == 400
    assert (await act(action="available")).status == 303
    assert await state_of(console, "alice") == (AgentState.AVAILABLE, "")
    assert (await act(action="sign-off")).status == 303
    assert await state_of(console, "alice") == (AgentState.LOGGED_OUT, "")
    refused = await act(action="pause", reason="meal")  # a signed-off volunteer cannot pause
    assert refused.headers["Location"].startswith("/console/volunteer?error=")


async def test_a_volunteer_pauses_in_one_queue_and_resumes_it(console: Console) -> None:
    assert await console.sign_in("alice") == 303

    async def act(**form: str) -> ClientResponse:
        csrf = await console.csrf("/console/volunteer")
        return await post(console, "/console/presence", {"csrf": csrf, **form})

    assert (await act(action="available")).status == 303
    async with console.http.get("/console/events") as stream:
        assert (await act(action="pause", queue="ringall", reason="meal")).status == 303
        event = await read_event(stream)
    assert event["event"] == "presence"
    assert json.loads(event["data"])["paused_in"] == {"ringall": "meal"}
    view = await console.store.agent("alice")
    assert view is not None
    assert (view.state, dict(view.paused_in)) == (AgentState.AVAILABLE, {"ringall": "meal"})
    async with console.http.get("/console/volunteer") as resp:
        assert '<span id="paused-in">ringall: meal</span>' in await resp.text()
    for form in (
        {"action": "pause", "queue": "nosuch", "reason": "meal"},
        {"action": "resume-queue", "queue": "nosuch"},
        {"action": "resume-queue"},
    ):
        assert (await act(**form)).status == 400, form
    assert (await act(action="resume-queue", queue="ringall")).status == 303
    view = await console.store.agent("alice")
    assert view is not None
    assert (view.state, dict(view.paused_in)) == (AgentState.AVAILABLE, {})


async def test_a_console_session_does_not_open_the_api(console: Console) -> None:
    assert await console.sign_in("bruno") == 303
    async with console.http.get("/acd/queues") as resp:
        assert resp.status == 401
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with console.http.get("/acd/queues", headers=headers) as resp:
        assert resp.status == 200


async def events_until_offer(resp: ClientResponse) -> list[dict[str, str]]:
    """The stream's events up to its first offer, and the earlier contacts and presence after
    it."""
    seen = [await read_event(resp)]
    while seen[-1]["event"] != "offer":
        seen.append(await read_event(resp))
    seen += [await read_event(resp), await read_event(resp)]
    return seen


AS_JSON = {"Accept": "application/json"}
#: The hotline's number the caller dialled (shown in the pop: it is not the caller's).
LINE = "+18005550100"


async def test_offers_pop_on_the_volunteers_event_stream_and_resume_by_last_event_id(
    console: Console,
) -> None:
    async with console.http.get("/console/events") as resp:
        assert resp.status == 403
    assert await console.sign_in("alice") == 303
    async with console.http.get("/console/events") as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        await console.offer_to("bruno", "c0", "Blue Heron", 5)  # not Alice's: not shown
        path = "language: fr > main_menu: 2 (youth)"
        await console.offer_to("alice", "c1", "Green Fox", 12, line=LINE, ivr_path=path)
        seen = await events_until_offer(resp)
    assert [e["event"] for e in seen[:-3]] == ["presence"] * (len(seen) - 3)
    assert json.loads(seen[0]["data"])["state"] in ("available", "offered")  # as she logs in
    offer, earlier, after = seen[-3:]
    assert json.loads(offer["data"]) == {
        "call_id": "c1",
        "pseudonym": "Green Fox",
        "queue": "general",
        "language": "fr",
        "waited_s": 12,
        "line": LINE,
        "ivr_path": "language: fr > main_menu: 2 (youth)",
        "dispositions": list(console.store.queues["general"].dispositions),
        "flags": ["risk", "frequent-caller", "abusive"],
        "context": None,  # straight from the line
    }
    assert earlier["event"] == "earlier"
    assert json.loads(earlier["data"]) == {"contacts": 0, "last_dispositions": [], "flags": []}
    assert after["event"] == "presence"
    assert earlier["id"] == after["id"] == offer["id"]
    assert json.loads(after["data"]) == {
        "state": "offered",
        "pause_reason": "",
        "call_since": None,
        "wrapup_until": None,
        "paused_in": {},
    }
    assert "Blue Heron" not in json.dumps(seen)
    # Reconnecting from before the offer replays it: a reconnect loses nothing.
    async with console.http.get("/console/events", headers={"Last-Event-ID": "0-0"}) as resp:
        replayed = await events_until_offer(resp)
    assert replayed[-3] == offer
    # From the offer on, what follows it only: a supervisor resets Alice, who is available.
    async with console.http.get("/console/events", headers={"Last-Event-ID": offer["id"]}) as resp:
        await console.store.reset("alice", "bruno", "stuck", time.time())
        event = await read_event(resp)
    assert event["event"] == "presence"
    assert json.loads(event["data"]) == {
        "state": "available",
        "pause_reason": "",
        "call_since": None,
        "wrapup_until": None,
        "paused_in": {},
    }


async def test_a_callback_pops_as_one_with_when_it_was_asked_for(console: Console) -> None:
    assert await console.sign_in("alice") == 303
    asked_at = round(time.time() - 30, 3)
    async with console.http.get("/console/events") as resp:
        await console.offer_to("alice", "c1", "Green Fox", 40, callback_at=asked_at)
        *_, offer, _, _ = await events_until_offer(resp)
    pop = json.loads(offer["data"])
    assert pop["context"] == {"kind": "callback", "asked_at": asked_at}
    assert pop["waited_s"] == 40  # it kept its place in the line


async def test_the_volunteer_who_took_a_call_wraps_it_up(console: Console) -> None:
    offer = await console.offer_to("alice", "c1", "Green Fox", 3)
    await console.store.accept(offer, "alice", time.time())
    await console.store.complete("c1", "alice", time.time() + 1)
    assert await console.sign_in("bruno") == 303
    form = {"call": "c1", "disposition": "crisis", "notes": "Called from 514 555 0123."}
    as_json = {"Accept": "application/json"}

    async def save(**changes: str) -> tuple[int, dict[str, object]]:
        data = {**form, **changes, "csrf": await console.csrf("/console/volunteer")}
        async with console.http.post("/console/wrapup", data=data, headers=as_json) as resp:
            return resp.status, await resp.json()

    assert await save() == (403, {"error": "not-your-call"})  # Bruno did not take it
    csrf = await console.csrf("/console/volunteer")
    assert (await post(console, "/console/signout", {"csrf": csrf})).status == 303
    assert await console.sign_in("alice") == 303
    assert await save(disposition="pizza") == (400, {"error": "invalid-disposition"})
    assert await save(flags="vip") == (400, {"error": "invalid-flag"})
    # The form's checkboxes: one "flags" field per flag set.
    flagged = MultiDict({**form, "csrf": await console.csrf("/console/volunteer")})
    flagged.extend([("flags", "risk"), ("flags", "abusive")])
    async with console.http.post("/console/wrapup", data=flagged, headers=as_json) as resp:
        assert (resp.status, await resp.json()) == (200, {"saved": True})
    (written,) = await console.wrapups.read("c1")
    assert (written.agent, written.disposition, written.flags) == (
        "alice",
        "crisis",
        ("risk", "abusive"),
    )
    assert await save() == (200, {"saved": True})
    (written,) = await console.wrapups.read("c1")
    assert (written.agent, written.disposition, written.flags) == ("alice", "crisis", ())
    assert written.notes == "Called from [phone number removed]."
    # Without a script, the form goes back to the screen.
    data = {**form, "disposition": "silent", "csrf": await console.csrf("/console/volunteer")}
    response = await post(console, "/console/wrapup", data)
    assert response.headers["Location"] == "/console/volunteer"
    (written,) = await console.wrapups.read("c1")
    assert written.disposition == "silent"


async def test_the_pop_is_followed_by_the_callers_earlier_contacts(console: Console) -> None:
    for call_id in ("c0", "c1"):  # the same caller twice (the IVR journal's first entry)
        detail = json.dumps({"caller": "h:same-caller", "did": "+18005550100"})
        await console.store.redis.xadd(
            console.keys.journal, {"channel": call_id, "kind": "call", "detail": detail}
        )
    offer = await console.offer_to("bruno", "c0", "Green Fox", 3)
    await console.store.accept(offer, "bruno", time.time())
    await console.store.complete("c0", "bruno", time.time())
    await console.wrapups.write("c0", "bruno", "crisis", "", ["frequent-caller", "risk"])
    # Bruno signs off: past his 1 s wrap-up (a busy machine) he would be idle longest.
    await console.store.logout("bruno", time.time())
    assert await console.sign_in("alice") == 303
    async with console.http.get("/console/events") as resp:
        await console.offer_to("alice", "c1", "Green Fox", 1)
        *_, offer_event, earlier, _ = await events_until_offer(resp)
    assert json.loads(offer_event["data"])["call_id"] == "c1"
    assert json.loads(earlier["data"]) == {
        "contacts": 1,
        "last_dispositions": ["crisis"],
        "flags": ["frequent-caller", "risk"],
    }


async def test_a_console_signed_in_at_one_instance_is_served_by_another(
    redis_url: str, tmp_path: Path
) -> None:
    async with (
        console_running(redis_url, tmp_path) as first,
        console_running(redis_url, tmp_path) as second,
    ):
        assert await first.sign_in("alice") == 303
        name = first.keys.console_session
        jar = first.http.session.cookie_jar.filter_cookies(first.http.make_url("/console/"))
        second.http.session.cookie_jar.update_cookies({name: jar[name].value})
        async with second.http.get("/console/volunteer", allow_redirects=False) as resp:
            assert resp.status == 200
        async with second.http.get("/console/events") as resp:
            await first.offer_to("alice", "c1", "Green Fox", 3)
            seen = await events_until_offer(resp)
    assert json.loads(seen[-3]["data"])["pseudonym"] == "Green Fox"


async def test_a_number_typed_as_the_id_reaches_no_redis_key_and_no_log_line(
    redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    limits = ConsoleSettings(attempts_per_address=1)
    async with console_running(redis_url, tmp_path, limits) as console:
        assert await console.sign_in(CALLER, "wrong") == 401
        assert await console.sign_in(CALLER, "wrong") == 429
        keys = await console.store.redis.keys("*")
    digits = CALLER.lstrip("+")
    assert not [key for key in keys if digits in key]
    assert digits not in caplog.text


async def reload(console: Console, agent: str) -> list[dict[str, str]]:
    """A new page's stream (no Last-Event-ID) in the wrap-up: its events up to a presence
    (the wrap-up extended once it is open)."""
    async with console.http.get("/console/events") as resp:
        await console.store.extend_wrapup(agent, 1, time.time())
        seen = [await read_event(resp)]
        while seen[-1]["event"] != "presence":
            seen.append(await read_event(resp))
    return seen


async def test_a_stream_opened_on_a_call_or_in_its_wrap_up_pops_the_call_again(
    console: Console,
) -> None:
    assert await console.sign_in("alice") == 303
    async with console.http.get("/console/events") as resp:
        offer_id = await console.offer_to("alice", "c1", "Green Fox", 7, ivr_path="main_menu: 1")
        *_, offer, _, _ = await events_until_offer(resp)
    await console.store.accept(offer_id, "alice", time.time())
    # On the call: the pop the volunteer was sent, then the caller's earlier contacts.
    async with console.http.get("/console/events") as resp:
        popped, earlier = await read_event(resp), await read_event(resp)
    assert (popped["event"], popped["data"]) == ("offer", offer["data"])
    assert earlier["event"] == "earlier"
    # In its wrap-up (its end 10 minutes ahead outlasts the test): the same.
    await console.store.complete("c1", "alice", time.time() + 600)
    popped, earlier, _ = await reload(console, "alice")
    assert (popped["event"], popped["data"], earlier["event"]) == (
        "offer",
        offer["data"],
        "earlier",
    )
    assert CALLER not in json.dumps([popped, earlier])
    # Its wrap-up saved: a reload reopens it no more.
    data = {"call": "c1", "disposition": "crisis", "csrf": await console.csrf("/console/volunteer")}
    async with console.http.post("/console/wrapup", data=data, headers=AS_JSON) as resp:
        assert (resp.status, await resp.json()) == (200, {"saved": True})
    assert [e["event"] for e in await reload(console, "alice")] == ["presence"]
    # A call whose wrap-up is over, unsaved: no pop either.
    await console.store.end_wrapup("alice", time.time())
    await console.store.logout("alice", time.time())
    async with console.http.get("/console/events") as resp:
        offer_id = await console.offer_to("alice", "c2", "Blue Heron", 3)
        await events_until_offer(resp)
    await console.store.accept(offer_id, "alice", time.time())
    await console.store.complete("c2", "alice", time.time() + 600)
    await console.store.end_wrapup("alice", time.time())
    async with console.http.get("/console/events") as resp:
        await console.store.pause("alice", "break", time.time())
        assert (await read_event(resp))["event"] == "presence"
