"""Prometheus metrics of one runtime, served at ``GET /metrics``.

Each runtime has its own registry, so several runtimes in one process (tests, the harness)
never collide.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.metrics import Histogram
from prometheus_client.utils import floatToGoString

if TYPE_CHECKING:
    from tessera.cluster.outage import Outage
    from tessera.services.events.redis import RedisEventBackend
    from tessera.services.fanout.held import HeldMessages

CALL_BUCKETS = Histogram.DEFAULT_BUCKETS[:-1]  # without +Inf, which is the total
BUCKET_LABELS = [floatToGoString(bound) for bound in (*CALL_BUCKETS, math.inf)]


class CallStats:
    """Plugin call counts and durations, in plain numbers turned into metrics when scraped.

    Every call is counted, on the event loop: plain integers cost a fraction of
    prometheus-client's locked values (docs/performance.md).
    """

    def __init__(self) -> None:
        self._calls: dict[tuple[str, str], int] = {}
        # Per plugin: the count in each bucket (the last one past every bound), and the sum.
        self._buckets: dict[str, list[int]] = {}
        self._seconds: dict[str, float] = {}

    def record(self, plugin: str, status: str, seconds: float) -> None:
        key = (plugin, status)
        self._calls[key] = self._calls.get(key, 0) + 1
        buckets = self._buckets.get(plugin)
        if buckets is None:
            buckets = self._buckets[plugin] = [0] * (len(CALL_BUCKETS) + 1)
            self._seconds[plugin] = 0.0
        buckets[bisect.bisect_left(CALL_BUCKETS, seconds)] += 1
        self._seconds[plugin] += seconds

    def collect(self) -> Iterator[Metric]:
        calls = CounterMetricFamily(
            "tessera_plugin_calls",
            "Plugin calls, by plugin and outcome (ok, error, crash, timeout).",
            labels=["plugin", "status"],
        )
        for (plugin, status), count in list(self._calls.items()):
            calls.add_metric([plugin, status], count)
        yield calls
        duration = HistogramMetricFamily(
            "tessera_plugin_call_seconds", "Time spent in plugin calls.", labels=["plugin"]
        )
        for plugin, buckets in list(self._buckets.items()):
            cumulative = zip(BUCKET_LABELS, itertools.accumulate(buckets), strict=True)
            duration.add_metric([plugin], list(cumulative), self._seconds[plugin])
        yield duration


class OutageStats:
    """Redis outages and what this process keeps meanwhile, read when scraped."""

    def __init__(self, outage: Outage, held: HeldMessages, events: RedisEventBackend) -> None:
        self._outage = outage
        self._held = held
        self._events = events

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "tessera_redis_outages", "Times this process lost Redis.", self._outage.count
        )
        yield GaugeMetricFamily(
            "tessera_redis_up", "1 while this process reaches Redis.", int(not self._outage.down)
        )
        outbox = GaugeMetricFamily(
            "tessera_outage_outbox",
            "Items kept while Redis is unreachable, not yet handed over, by kind.",
            labels=["kind"],
        )
        outbox.add_metric(["ws_messages"], len(self._held))
        outbox.add_metric(["events"], self._events.backlog)
        yield outbox
        yield CounterMetricFamily(
            "tessera_outage_dropped_messages",
            "WebSocket messages dropped from the outage outbox, past its bound.",
            self._held.dropped,
        )


class Metrics:
    """The counters and histograms Tessera keeps."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._calls = CallStats()
        self.registry.register(self._calls)
        self.refusals = Counter(
            "tessera_plugin_refusals",
            "Calls refused before the plugin ran, by plugin and reason.",
            ["plugin", "reason"],
            registry=self.registry,
        )
        self.loop_blocked = Counter(
            "tessera_event_loop_blocked",
            "Times the event loop stayed blocked past the watchdog threshold, by plugin.",
            ["plugin"],
            registry=self.registry,
        )
        self.entitlement_consumed = Counter(
            "tessera_entitlement_consumed",
            "Amounts charged to consumable limits, by plugin and limit.",
            ["plugin", "limit"],
            registry=self.registry,
        )
        self.entitlement_refusals = Counter(
            "tessera_entitlement_refusals",
            "Calls refused by plans and entitlements, by plugin, reason and limit or "
            "feature (plan_required, feature_required, limit_reached).",
            ["plugin", "reason", "name"],
            registry=self.registry,
        )

    def watch_outage(self, outage: Outage, held: HeldMessages, events: RedisEventBackend) -> None:
        """Expose a cluster process's outages and outboxes."""
        self.registry.register(OutageStats(outage, held, events))

    def record_call(self, plugin: str, status: str, seconds: float) -> None:
        """Count one finished plugin call, by its outcome's status, and its duration."""
        self._calls.record(plugin, status, seconds)

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)
