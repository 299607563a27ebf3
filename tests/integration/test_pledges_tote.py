"""The tote board on both databases: its sums by status and over the last 15 minutes, and its
public JSON, page and SSE feed, which moves within a second of a pledge being saved."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncSession

from pledges.http import tote_routes
from pledges.models import Pledge
from pledges.rules import Status
from pledges.tote import PACE_WINDOW_S, Sums, ToteFeed, read_sums
from tests.integration.test_acd_http import T0, api_app
from tests.integration.test_pledges_http import (
    CAMPAIGN,
    Api,
    api,  # noqa: F401  (the fixture)
)


def row(
    number: int, amount: int, status: Status, created_at: float, *, paid: bool | None = None
) -> Pledge:
    """A pledge in ``status``, paid when it is paid (or as ``paid`` says)."""
    paid = status is Status.PAID if paid is None else paid
    return Pledge(
        id=f"p{number}", campaign=CAMPAIGN.name, client_key=f"key-{number:04}", call_id="c",
        agent="alice", donor_key="", pseudonym="", language="en", amount=amount,
        currency="EUR", frequency="one_off", day_of_month=None, instalments=None,
        method="sms_link", receipt=False, donor_sealed="", keep_details=False,
        consent_sms=True, on_air=False, alias="", comment="", removed="{}",
        status=status.value, provider_ref="", link_url="", created_at=created_at,
        updated_at=created_at, paid_at=created_at + 5 if paid else None,
    )  # fmt: skip


@pytest.fixture
async def tote(api: Api) -> AsyncIterator[tuple[Api, ToteFeed]]:  # noqa: F811
    feed = ToteFeed(api.engine, {CAMPAIGN.name: CAMPAIGN}, clock=time.time)
    poller = asyncio.create_task(feed.run())
    yield api, feed
    poller.cancel()
    await asyncio.gather(poller, return_exceptions=True)


async def test_sums_count_statuses_and_the_last_fifteen_minutes(api: Api) -> None:  # noqa: F811
    now = T0 + 10_000
    rows = [
        row(1, 1000, Status.PAID, now - PACE_WINDOW_S - 1),
        row(2, 2000, Status.LINK_SENT, now - 60),
        row(3, 4000, Status.FAILED, now - 30),
        row(4, 8000, Status.CANCELLED, now - 20),
        row(5, 16000, Status.EXPIRED, now - PACE_WINDOW_S - 5),
        row(6, 32000, Status.PAID, now - 10),
        row(7, 500, Status.PLEDGED, now - 1),
        # a paid monthly gift cancelled: what was paid stays in every total
        row(8, 64000, Status.CANCELLED, now - 40, paid=True),
    ]
    async with AsyncSession(api.engine) as session, session.begin():
        session.add_all(rows)
    assert await read_sums(api.engine, CAMPAIGN.name, now) == Sums(
        pledged=1000 + 2000 + 4000 + 32000 + 500 + 64000, paid=1000 + 32000 + 64000, count=6,
        pace_amount=2000 + 4000 + 32000 + 500 + 64000, pace_count=5,
    )  # fmt: skip
    assert await read_sums(api.engine, "another", now) == Sums()


async def next_board(response: ClientResponse) -> dict[str, object]:
    """The next ``board`` event of an SSE stream."""
    event, data = "", ""
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if line.startswith("event:"):
            event = line.partition(":")[2].strip()
        elif line.startswith("data:"):
            data = line.partition(":")[2].strip()
        elif not line and event == "board":
            return dict(json.loads(data))
    raise AssertionError("the stream ended")


async def test_the_public_board_moves_within_a_second_of_a_pledge(
    tote: tuple[Api, ToteFeed],
) -> None:
    operators, feed = tote
    app = api_app(tote_routes(feed))
    call = await operators.telethon_call("c1", "0123456789ab", T0, talk_s=None)
    operators.clock.now = T0 + 30
    async with TestClient(TestServer(app)) as public:
        page = await public.get("/tote/demo-telethon")
        assert page.status == 200
        assert "EventSource" in await page.text()
        missing = await public.get("/tote/nothing/board.json")
        assert (missing.status, (await missing.json())["error"]) == (404, "no-such-campaign")
        async with public.get("/tote/demo-telethon/events") as stream:
            first = await next_board(stream)
            assert (first["pledged"], first["count"], first["goal"]) == (0, 0, 5_000_000)
            status, _ = await operators.pledge(call, "form-0001", amount=500_000)
            assert status == 201
            moved = await asyncio.wait_for(next_board(stream), 1.0)  # within a second of saving
            assert (moved["pledged"], moved["count"], moved["reached"]) == (500_000, 1, [])
            assert (await operators.pledge(call, "form-0002", amount=500_000))[0] == 201
            moved = await asyncio.wait_for(next_board(stream), 1.0)
        assert (moved["pledged"], moved["count"], moved["reached"]) == (1_000_000, 2, [1_000_000])
        board = await (await public.get("/tote/demo-telethon/board.json")).json()
        assert board == moved
        assert set(board) == {  # totals only: nothing about any donor or operator
            "campaign", "title", "currency", "goal", "pledged", "paid", "count",
            "pace_amount", "pace_count", "milestones", "reached", "progress",
        }  # fmt: skip
