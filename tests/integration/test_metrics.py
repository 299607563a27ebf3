"""``/metrics`` over real HTTP against a real Redis store: Prometheus text that parses, holds
the store's statistics, needs no token and carries no caller's number or pseudonym."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from acd.store import AcdStore
from core.config import RedisSettings
from core.keys import Keys
from core.redisconn import connect
from hotline.metrics import metrics_routes
from tests.integration.test_acd_http import (
    AGENTS,
    PHONE,
    QUEUES,
    T0,
    Clock,
    api_app,
    scripted_calls,
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[AcdStore]:
    client = connect(RedisSettings(url=redis_url))
    store = AcdStore(client, Keys("t"), QUEUES)
    await store.sync_agents(list(AGENTS.values()))
    yield store
    await client.aclose()


async def scrape(http: TestClient[web.Request, web.Application]) -> tuple[str, Samples]:
    """The /metrics text (fetched without a token) and its samples by name and labels."""
    async with http.get("/metrics") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        text = await resp.text()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return text, samples


async def test_metrics_hold_the_stores_statistics(store: AcdStore) -> None:
    await scripted_calls(store)
    await store.to_callback("c3", T0 + 75)  # c3 chose to be called back: it keeps its place
    clock = Clock(T0 + 80)
    app = api_app(metrics_routes(store, list(QUEUES), clock))
    async with TestClient(TestServer(app)) as http:
        text, samples = await scrape(http)

    q, q2 = (("queue", "q"),), (("queue", "q2"),)
    assert samples[("hotline_queue_waiting_calls", q)] == 1
    assert samples[("hotline_queue_longest_wait_seconds", q)] == 10
    assert samples[("hotline_queue_entered_calls_total", q)] == 3
    assert samples[("hotline_queue_answered_calls_total", q)] == 1
    assert samples[("hotline_queue_abandoned_calls_total", q)] == 1
    assert samples[("hotline_queue_short_abandoned_calls_total", q)] == 0
    assert samples[("hotline_queue_completed_calls_total", q)] == 1
    assert samples[("hotline_queue_asa_seconds", q)] == 5
    assert samples[("hotline_queue_service_level_ratio", q)] == 0.5
    assert samples[("hotline_queue_aht_seconds", q)] == 60
    assert samples[("hotline_queue_callbacks_pending", q)] == 1
    assert samples[("hotline_queue_callbacks_pending", q2)] == 0
    agents = {
        dict(labels)["state"]: value
        for (name, labels), value in samples.items()
        if name == "hotline_queue_agents" and ("queue", "q") in labels
    }
    assert agents == {"available": 1, "offered": 0, "on_call": 0, "wrap_up": 1, "paused": 0}
    assert samples[("hotline_queue_waiting_calls", q2)] == 0
    assert ("hotline_queue_asa_seconds", q2) not in samples  # no answered call yet

    assert samples[("hotline_queue_timed_out_calls_total", q)] == 0
    assert {k for _, labels in samples for k, _ in labels} == {"queue", "state"}
    for secret in (PHONE, PHONE.lstrip("+"), "5145550123", "5550123", "Caller c"):
        assert secret not in text


async def test_metrics_only_for_the_named_queues(store: AcdStore) -> None:
    app = api_app(metrics_routes(store, ["q2"], Clock()))
    async with TestClient(TestServer(app)) as http:
        _, samples = await scrape(http)
    assert {dict(labels)["queue"] for _, labels in samples} == {"q2"}
