"""Prometheus metrics of one runtime, served at ``GET /metrics``.

Each runtime has its own registry, so several runtimes in one process (tests, the harness)
never collide.
"""

from __future__ import annotations

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

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)
