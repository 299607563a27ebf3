"""Prometheus metrics of the ACD queues, read from the shared store at scrape time.

Every app instance reports the same Redis-wide numbers, so scrape one instance (or aggregate
with ``max``). Labels are only ``queue``, for agents ``state``, for repairs their kind: never a
number or a pseudonym. A scrape first reads every queue's statistics (async), then renders
them through a registry of its own, so nothing blocks the event loop and no state outlives
the request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from acd.stats import QueueStats
from acd.store import AcdStore

#: Gauges: name, help, value (None: no sample, e.g. an ASA before any answered call).
_GAUGES: Final[Sequence[tuple[str, str, Callable[[QueueStats], float | None]]]] = (
    ("hotline_queue_waiting_calls", "Calls waiting in the queue.", lambda s: s.waiting),
    (
        "hotline_queue_longest_wait_seconds",
        "How long the oldest waiting call has waited.",
        lambda s: s.longest_wait_s,
    ),
    ("hotline_queue_asa_seconds", "Average speed of answer.", lambda s: s.asa_s),
    (
        "hotline_queue_service_level_ratio",
        "Share of answered and abandoned calls answered within the service level time.",
        lambda s: None if s.service_level_pct is None else s.service_level_pct / 100,
    ),
    ("hotline_queue_aht_seconds", "Average handle time of recent calls.", lambda s: s.aht_s),
    (
        "hotline_queue_callbacks_pending",
        "Callbacks waiting in the queue to be made.",
        lambda s: s.callbacks_pending,
    ),
)
#: Counters (exposed with a ``_total`` suffix): name, help, value.
_COUNTERS: Final[Sequence[tuple[str, str, Callable[[QueueStats], float]]]] = (
    ("hotline_queue_entered_calls", "Calls that entered the queue.", lambda s: s.entered),
    ("hotline_queue_answered_calls", "Calls an agent answered.", lambda s: s.answered),
    (
        "hotline_queue_abandoned_calls",
        "Calls abandoned after the short-abandon time.",
        lambda s: s.abandoned,
    ),
    (
        "hotline_queue_short_abandoned_calls",
        "Calls abandoned within the short-abandon time.",
        lambda s: s.short_abandoned,
    ),
    ("hotline_queue_timed_out_calls", "Calls that left at max_wait_s.", lambda s: s.timed_out),
    ("hotline_queue_completed_calls", "Answered calls that ended.", lambda s: s.completed),
)


class QueueStatsCollector(Collector):
    """Metric families of statistics already read from the store."""

    def __init__(self, stats: Sequence[QueueStats], repairs: Mapping[str, int]) -> None:
        self.stats = stats
        self.repairs = repairs

    def collect(self) -> Iterable[Metric]:
        """One family per statistic, one sample per queue (per queue and state for agents)."""
        for name, doc, gauge_value in _GAUGES:
            gauge = GaugeMetricFamily(name, doc, labels=["queue"])
            for s in self.stats:
                value = gauge_value(s)
                if value is not None:
                    gauge.add_metric([s.queue], value)
            yield gauge
        agents = GaugeMetricFamily(
            "hotline_queue_agents", "Logged-in agents by state.", labels=["queue", "state"]
        )
        for s in self.stats:
            for state, count in s.agents.items():
                agents.add_metric([s.queue, state], count)
        yield agents
        for name, doc, counter_value in _COUNTERS:
            counter = CounterMetricFamily(name, doc, labels=["queue"])
            for s in self.stats:
                counter.add_metric([s.queue], counter_value(s))
            yield counter
        repairs = CounterMetricFamily(
            "hotline_reconcile_repairs",
            "Repairs of records and channels that disagreed (crash, restart, lost events).",
            labels=["repair"],
        )
        for kind, count in sorted(self.repairs.items()):
            repairs.add_metric([kind], count)
        yield repairs


def metrics_routes(
    store: AcdStore,
    queue_names: Sequence[str],
    clock: Callable[[], float],
    collectors: Sequence[Collector] = (),
) -> list[web.RouteDef]:
    """``GET /metrics`` (public) for the queues ``queue_names``, plus ``collectors`` (metrics
    the app keeps in memory); ``clock`` gives epoch seconds."""

    async def metrics(_: web.Request) -> web.Response:
        now = clock()
        stats = await asyncio.gather(*(store.queue_stats(name, now) for name in queue_names))
        registry = CollectorRegistry(auto_describe=False)
        registry.register(QueueStatsCollector(stats, await store.repairs()))
        for collector in collectors:
            registry.register(collector)
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    return [web.get("/metrics", metrics)]
