"""ACD routing decision time: one claim (and the reject that undoes it) against a real Redis
holding N available agents with several skills and levels and W waiting calls. Used by
``python -m bench.acd``; the goal is a time at 1,000 agents within 2x the time at 10."""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time

import redis.asyncio as aioredis

from acd.config import AgentProfile, Device, DeviceKind, QueueConfig, WideningRule
from acd.model import MissReason, WaitingCall
from acd.store import AcdStore
from core.frozen import FrozenMap
from core.keys import Keys

SKILLS = ("listening", "fr", "youth", "grief")
QUEUE = QueueConfig(
    "bench",
    skill="listening",
    widening=(WideningRule(0, 4), WideningRule(30, 2), WideningRule(90, 1)),
    max_misses=10**9,  # every cycle ends in a reject; never auto-pause
)
T0 = 1_700_000_000.0


def decision_ms(agent_count: int, waiting: int, *, redis_url: str, rounds: int) -> float:
    """Median milliseconds of one claim + reject cycle (the call returns to its place and the
    agent to AVAILABLE, so every round sees the same load). Keys live under a fresh prefix,
    deleted afterwards."""
    return asyncio.run(_measure(agent_count, waiting, redis_url, rounds))


async def _measure(agent_count: int, waiting: int, redis_url: str, rounds: int) -> float:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    keys = Keys(f"bench-{secrets.token_hex(4)}")
    try:
        store = AcdStore(client, keys, {QUEUE.name: QUEUE})
        for i in range(agent_count):
            skills = {skill: 1 + (i + n) % 5 for n, skill in enumerate(SKILLS) if (i + n) % 3}
            agent = AgentProfile(
                id=f"agent{i:05d}",
                name=f"Agent {i}",
                pin_hash="$argon2id$bench",
                devices=(Device(DeviceKind.SIP, f"PJSIP/agent{i}"),),
                skills=FrozenMap(skills),
                queues=(QUEUE.name,),
            )
            await store.upsert_agent(agent, i)
            await store.login(agent.id, agent.queues, agent.devices[0], T0 + i % 97)
        for i in range(waiting):
            at = T0 + 100 + i
            skill = SKILLS[i % len(SKILLS)] if i % 2 else None
            call = WaitingCall(f"call{i:05d}", QUEUE.name, "bench", f"P{i}", "en", at, skill)
            await store.enqueue(call, at)
        now = T0 + 100 + waiting + 60
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            offer = await store.claim(QUEUE.name, now)
            if offer is None:
                raise RuntimeError("no agent could take any waiting call")
            agent_id = offer.agents[0].agent_id
            await store.reject(offer.offer_id, agent_id, MissReason.DECLINED, now)
            times.append(time.perf_counter() - start)
            now += 0.01
        return statistics.median(times) * 1000
    finally:
        async for key in client.scan_iter(match=f"{keys.prefix}:*", count=1000):
            await client.delete(key)
        await client.aclose()
