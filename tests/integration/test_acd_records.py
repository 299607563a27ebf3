"""The ARI adapter's records on a real Redis: written through, updated only while they exist,
never resurrected, and carried by store operations in the same round trip."""

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
import redis.asyncio as aioredis

from acd.config import AgentProfile, Device, DeviceKind, QueueConfig
from acd.model import AcdError, Party, WaitingCall
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
from core.keys import Keys

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


async def test_writes_ride_with_store_operations(client: aioredis.Redis) -> None:
    store = AcdStore(client, KEYS, {"q": QueueConfig("q", wrapup_s=0)})
    records, other = Records(client, KEYS), Records(client, KEYS)
    call = WaitingCall("c1", "q", "app-1", "Brave Otter", "en", T0)
    async with records.along(put(CALLER)) as encoded:
        assert await records.caller("c1") == CALLER  # this instance sees it at once
        assert await other.caller("c1") is None
        assert (await store.enqueue(call, T0, encoded)).accepted
    assert await other.caller("c1") == CALLER
    async with records.along(delete(RecordKind.CALLER, "c1")) as encoded:
        assert await records.caller("c1") is None  # deleted here, still in Redis
        assert await other.caller("c1") == CALLER
        with pytest.raises(AcdError, match="unknown-agent"):  # never connected
            await store.complete("c1", "nobody", T0 + 1, Party.CALLER, encoded)
    assert await records.caller("c1") is None
    assert not await client.exists(KEYS.acd_caller("c1"))  # written all the same


async def test_an_accept_writes_records_only_for_the_winner(client: aioredis.Redis) -> None:
    store = AcdStore(client, KEYS, {"q": QueueConfig("q")})
    device = Device(DeviceKind.SIP, "PJSIP/a")
    profile = AgentProfile("a", "A", "$argon2id$x", (device,), queues=("q",))
    await store.sync_agents([profile])
    await store.login("a", ["q"], device, T0)
    call = WaitingCall("c1", "q", "app-1", "Brave Otter", "en", T0)
    records = Records(client, KEYS)
    async with records.along(put(CALLER)) as encoded:
        await store.enqueue(call, T0, encoded)
    offer = await store.claim("q", T0)
    assert offer is not None
    bridged = records.encode(update(replace(CALLER, phase=CallerPhase.BRIDGED), "phase"))
    assert not (await store.accept("o404", "a", T0, bridged)).won
    assert await Records(client, KEYS).caller("c1") == CALLER
    assert (await store.accept(offer.offer_id, "a", T0, bridged)).won
    assert await Records(client, KEYS).caller("c1") == replace(CALLER, phase=CallerPhase.BRIDGED)
