"""The plugin call metrics, as Prometheus scrapes them."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tessera.metrics import Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_calls_are_counted_by_plugin_and_status_with_their_durations():
    metrics = Metrics()
    for seconds in (0.001, 0.005, 0.02, 30.0):
        metrics.record_call("todo", "ok", seconds)
    metrics.record_call("todo", "crash", 0.3)
    metrics.record_call("notes", "timeout", 10.0)
    seen = samples(metrics)

    def calls(plugin: str, status: str) -> float:
        return seen[("tessera_plugin_calls_total", (("plugin", plugin), ("status", status)))]

    def bucket(plugin: str, le: str) -> float:
        return seen[("tessera_plugin_call_seconds_bucket", (("le", le), ("plugin", plugin)))]

    assert calls("todo", "ok") == 4
    assert calls("todo", "crash") == 1
    assert calls("notes", "timeout") == 1
    assert bucket("todo", "0.005") == 2  # a bucket counts durations up to its bound, inclusive
    assert bucket("todo", "0.025") == 3
    assert bucket("todo", "0.5") == 4
    assert bucket("todo", "10.0") == 4
    assert bucket("todo", "+Inf") == 5
    assert bucket("notes", "10.0") == 1
    assert seen[("tessera_plugin_call_seconds_count", (("plugin", "todo"),))] == 5
    assert seen[("tessera_plugin_call_seconds_sum", (("plugin", "todo"),))] == 30.326
