"""Console roles and first login over real HTTP with a real Redis: each role's pages are
refused to the others by the server (403 ``wrong-role``), and an account without a password
sets one with a one-time token an admin issued."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientResponse

from acd.routing import AgentState
from core.config import ConsoleSettings
from tests.consoles import Console, console_running

CHEN_PASSWORD = "chen-first-password"


@pytest.fixture
async def console(redis_url: str, tmp_path: Path) -> AsyncIterator[Console]:
    async with console_running(redis_url, tmp_path) as running:
        yield running


async def post(console: Console, path: str, form: dict[str, str]) -> tuple[ClientResponse, str]:
    async with console.http.post(path, data=form, allow_redirects=False) as resp:
        return resp, await resp.text()


async def issue_token(console: Console, account: str) -> str:
    """Sign in as the admin, issue ``account`` a first-login token, sign out; the token."""
    assert await console.sign_in("fiona") == 303
    csrf = await console.csrf("/console/admin")
    resp, page = await post(
        console, "/console/admin/first-login", {"csrf": csrf, "account": account}
    )
    assert resp.status == 200
    found = re.search(r'<code id="issued-token">([^<]+)</code>', page)
    assert found
    resp, _ = await post(console, "/console/signout", {"csrf": csrf})
    assert resp.status == 303
    return found.group(1)


async def first_login(console: Console, account: str, token: str, password: str) -> int:
    form = {
        "csrf": await console.csrf("/console/first-login"),
        "account": account,
        "token": token,
        "password": password,
        "confirm": password,
    }
    resp, _ = await post(console, "/console/first-login", form)
    return resp.status


async def test_a_volunteer_is_refused_the_admin_pages(console: Console) -> None:
    assert await console.sign_in("alice") == 303
    async with console.http.get("/console/admin") as resp:
        assert resp.status == 403
        assert '<code id="error-id">wrong-role</code>' in await resp.text()
    headers = {"Accept": "application/json"}
    async with console.http.get("/console/admin", headers=headers) as resp:
        assert resp.status == 403
        assert await resp.json() == {"error": "wrong-role"}
    csrf = await console.csrf("/console/volunteer")
    resp, _ = await post(console, "/console/admin/first-login", {"csrf": csrf, "account": "chen"})
    assert resp.status == 403
    assert not await console.store.redis.exists(console.keys.console_first_login("chen"))


async def test_an_admin_starts_on_the_admin_page_and_is_refused_the_volunteers(
    console: Console,
) -> None:
    form = {"csrf": await console.csrf(), "account": "fiona", "password": "fiona-console"}
    resp, _ = await post(console, "/console/signin", form)
    assert resp.headers["Location"] == "/console/admin"
    async with console.http.get("/console/admin") as resp:
        page = await resp.text()
    assert resp.status == 200
    assert re.search(r'data-account="chen">.*?data-password="none"', page, re.S)
    assert re.search(r'data-account="alice">.*?data-password="set"', page, re.S)
    for path in ("/console/volunteer", "/console/events"):
        async with console.http.get(path) as resp:
            assert resp.status == 403, path
    csrf = await console.csrf("/console/admin")
    resp, _ = await post(console, "/console/presence", {"csrf": csrf, "action": "available"})
    assert resp.status == 403
    view = await console.store.agent("fiona")
    assert view is None or view.state is AgentState.LOGGED_OUT


async def test_a_first_login_token_sets_the_password_once(console: Console) -> None:
    assert await console.sign_in("chen", "") == 401  # no password yet
    token = await issue_token(console, "chen")
    stored = await console.store.redis.get(console.keys.console_first_login("chen"))
    assert stored == hashlib.sha256(token.encode()).hexdigest()  # Redis never holds the token
    assert await first_login(console, "chen", "not-" + token, CHEN_PASSWORD) == 401
    assert await first_login(console, "alice", token, CHEN_PASSWORD) == 401  # chen's token
    assert await first_login(console, "chen", token, "short") == 400
    assert await first_login(console, "chen", token, CHEN_PASSWORD) == 303
    assert await console.sign_in("chen", CHEN_PASSWORD) == 303
    async with console.http.get("/console/volunteer") as resp:
        assert "Chen" in await resp.text()
    assert await first_login(console, "chen", token, "another-password-1") == 401  # spent
    assert await console.sign_in("chen", "another-password-1") == 401
    assert await console.sign_in("alice", CHEN_PASSWORD) == 401  # alice keeps her own


async def test_a_first_login_password_wins_over_the_agent_files(console: Console) -> None:
    token = await issue_token(console, "alice")
    assert await first_login(console, "alice", token, "alice-new-password") == 303
    assert await console.sign_in("alice") == 401
    assert await console.sign_in("alice", "alice-new-password") == 303


async def test_failed_first_logins_are_limited_like_sign_ins(
    redis_url: str, tmp_path: Path
) -> None:
    limits = ConsoleSettings(attempts_per_account=3, attempts_per_address=10)
    async with console_running(redis_url, tmp_path, limits) as console:
        token = await issue_token(console, "chen")
        for _ in range(3):
            assert await first_login(console, "chen", "guess", CHEN_PASSWORD) == 401
        assert await first_login(console, "chen", token, CHEN_PASSWORD) == 429  # even right
        assert not await console.store.redis.exists(console.keys.console_password("chen"))
