"""Prometheus metrics of one runtime, served at ``GET /metrics``.

Each runtime has its own registry, so several runtimes in one process (tests, the harness)
never collide.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    """The counters and histograms Tessera keeps."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.calls = Counter(
            "tessera_plugin_calls",
            "Plugin calls, by plugin and outcome (ok, error, crash, timeout).",
            ["plugin", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "tessera_plugin_call_seconds",
            "Time spent in plugin calls.",
            ["plugin"],
            registry=self.registry,
        )
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

        # The labelled children of each (plugin, status): looking them up is the costly part
        # of counting a call, and every call is counted.
        self._call_children: dict[tuple[str, str], tuple[Any, Any]] = {}

    def record_call(self, plugin: str, status: str, seconds: float) -> None:
        """Count one finished plugin call and its duration."""
        children = self._call_children.get((plugin, status))
        if children is None:
            children = (self.calls.labels(plugin, status), self.duration.labels(plugin))
            self._call_children[(plugin, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)
