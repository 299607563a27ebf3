"""Records of real calls (SIPp caller and volunteer's phone, the app, Asterisk, and a
``hotline worker`` draining the app's streams into SQL), on both databases: the call becomes a
contact with no number anywhere in SQL, its volunteer wraps it up over the app's HTTP API; and
with PostgreSQL down at start, calls are still taken and their records arrive once it is
back."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.config import RecordsSettings, Settings
from hotline.app import HotlineApp
from hotline.harness import PostgresServer, PrivateAsterisk
from ivr.flow import Flow
from records.models import Base, Contact
from tests.conftest import (
    CALLER,
    agent_phone,
    create_database,
    place_call,
    running_app,
    wait_until_idle,
    worker_process,
)
from tests.e2e.test_acd_calls import MONDAY_10AM_TORONTO, TO_GENERAL, log_in

pytestmark = pytest.mark.e2e

TOKEN = "alice-records-token-0123"


def with_records(settings: Settings, records: RecordsSettings) -> Settings:
    return dataclasses.replace(
        settings,
        records=dataclasses.replace(records, drain_every_s=0.2),
        secrets=dataclasses.replace(settings.secrets, api_tokens=f"alice:agent:{TOKEN}"),
    )


async def contacts(engine: AsyncEngine, within: float = 15) -> list[Contact]:
    """The contacts once one has ended (waiting for the worker's drain)."""
    deadline = time.monotonic() + within
    while True:
        async with AsyncSession(engine) as session:
            found = list((await session.scalars(select(Contact))).all())
        if found and all(c.ended_at for c in found):
            return found
        assert time.monotonic() < deadline, "no ended contact in the records"
        await asyncio.sleep(0.2)


async def answered_call(
    app: HotlineApp, asterisk: PrivateAsterisk, phone_port: int, tmp_path: Path
) -> None:
    await log_in(app, "alice")
    phone = asyncio.create_task(agent_phone(phone_port, tmp_path, talk_ms=1500))
    result = await place_call(asterisk, keys=TO_GENERAL)
    answered = await phone
    assert result.ok, result.output
    assert answered.returncode == 0, answered.messages[-2000:]
    await wait_until_idle(app, asterisk)


async def test_a_call_becomes_a_contact_its_volunteer_wraps_up(
    settings: Settings,
    records_settings: RecordsSettings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    settings = with_records(settings, records_settings)
    async with (
        running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app,
        worker_process(settings, tmp_path / "worker.log"),
    ):
        await answered_call(app, asterisk, phone_ports["alice"], tmp_path)
        (contact,) = await contacts(app.records.engine)
        url = f"http://127.0.0.1:{settings.http.port}/acd/calls/{contact.id}/wrapup"
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                url,
                json={"disposition": "information", "notes": f"asked to call {CALLER}"},
                headers={"Authorization": f"Bearer {TOKEN}"},
            ) as response,
        ):
            assert response.status == 201, await response.text()
            assert (await response.json())["removed"] == {"phone": 1}
        dump = await everything(app.records.engine)
    assert (contact.outcome, contact.agent, contact.queues) == ("answered", "alice", "general")
    assert contact.ivr_path == "1 1"
    assert len(contact.caller_key) == 12
    assert contact.pseudonym
    assert contact.arrived_at is not None
    assert contact.answered_at is not None
    assert contact.arrived_at <= contact.answered_at <= (contact.ended_at or 0)
    digits = CALLER.lstrip("+")
    assert "information" in dump
    assert digits[-7:] not in dump


async def everything(engine: AsyncEngine) -> str:
    """Every value of every table, as text."""
    async with AsyncSession(engine) as session:
        rows = [
            str(tuple(row))
            for table in Base.metadata.sorted_tables
            for row in (await session.execute(table.select())).all()
        ]
    return "\n".join(rows)


async def test_calls_are_taken_with_postgresql_down_and_recorded_once_it_is_back(
    settings: Settings,
    postgres: PostgresServer,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    records = RecordsSettings(url=postgres.url(create_database(postgres)))
    settings = with_records(settings, records)
    postgres.stop()
    try:
        async with (
            running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app,
            worker_process(settings, tmp_path / "worker.log"),
        ):
            await answered_call(app, asterisk, phone_ports["alice"], tmp_path)
            assert not app.records.ready.is_set()
            postgres.start()
            await asyncio.wait_for(app.records.ready.wait(), 10)
            (contact,) = await contacts(app.records.engine)
            assert (contact.outcome, contact.agent) == ("answered", "alice")
    finally:
        postgres.start()
