"""The ARI adapter's records on a real Redis: written through, updated only while they exist,
never resurrected, and carried by store operations in the same round trip."""

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
import redis.asyncio as aioredis

from acd.config import QueueConfig
from acd.model import WaitingCall
from acd.records import (
    Caller,
    CallerPhase,
    Leg,
    LegPhase,
    RecordKind,
    Records,
    delete,
    put,
    update,
)
from acd.store import AcdStore
from hotline.keys import Keys

KEYS = Keys("r")
T0 = 1_700_000_000.0
CALLER = Caller("c1", "q", "en", "Brave Otter", T0, "ref1")
LEG = Leg("agent-o1-a", "o1", "a", "c1", "q", external=False)


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    made = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield made
    await made.aclose()


async def test_writes_reach_redis_and_another_instance_reads_them(
    client: aioredis.Redis,
) -> None:
    mine, other = Records(client, KEYS), Records(client, KEYS)
    await mine.save(put(CALLER), put(LEG))
    bridged = replace(CALLER, phase=CallerPhase.BRIDGED, agent_id="a")
    await mine.save(
        update(bridged, "phase", "agent_id"), update(replace(LEG, phase=LegPhase.BRIDGED), "phase")
    )
    assert await other.caller("c1") == bridged
    assert await other.leg(LEG.leg_id) == replace(LEG, phase=LegPhase.BRIDGED)
    assert await client.ttl(KEYS.acd_caller("c1")) > 0


async def test_an_update_keeps_other_fields_and_never_resurrects(client: aioredis.Redis) -> None:
    records = Records(client, KEYS)
    await records.save(put(CALLER))
    await records.save(update(replace(CALLER, offer_id="o1"), "offer_id"))
    await records.save(update(replace(CALLER, playback="p1", offer_id="stale"), "playback"))
    expected = replace(CALLER, offer_id="o1", playback="p1")
    assert await records.caller("c1") == expected
    assert await Records(client, KEYS).caller("c1") == expected
    await records.save(delete(RecordKind.CALLER, "c1"), update(expected, "phase"))
    assert await records.caller("c1") is None
    assert not await client.exists(KEYS.acd_caller("c1"))


async def test_a_forgotten_leg_is_read_from_redis(client: aioredis.Redis) -> None:
    records = Records(client, KEYS)
    await records.save(put(LEG))
    await client.hset(KEYS.acd_leg(LEG.leg_id), "phase", '"ended"')  # as another writer would
    assert (await records.leg(LEG.leg_id)) == LEG  # cached
    records.forget(LEG.leg_id)
    assert (await records.leg(LEG.leg_id)) == replace(LEG, phase=LegPhase.ENDED)


async def test_a_staged_record_rides_with_the_enqueue(client: aioredis.Redis) -> None:
    store = AcdStore(client, KEYS, {"q": QueueConfig("q")})
    records = Records(client, KEYS)
    call = WaitingCall("c1", "q", "app-1", "Brave Otter", "en", T0)
    staged = records.stage(put(CALLER))
    assert await records.caller("c1") == CALLER  # this instance sees it at once
    assert not await client.exists(KEYS.acd_caller("c1"))
    assert (await store.enqueue(call, T0, staged)).accepted
    assert await Records(client, KEYS).caller("c1") == CALLER
