"""The events the runtime itself publishes about plugin calls.

``plugin_executed`` follows every call; ``plugin_execution_error`` also follows a call that
crashed or timed out (a plugin's own ``{"error": ...}`` answer is not a runtime error).
Both carry the reference's keys (``user``, ``execution_time`` in seconds) beside Tessera's
(``user_id``, ``duration``), so handlers written for the reference read what they expect.
"""

from __future__ import annotations

from tessera.auth.identity import Identity
from tessera.plugins.executor import Outcome
from tessera.plugins.registry import Plugin
from tessera.services.event_bus import EventBus

PLUGIN_EXECUTED = "plugin_executed"
PLUGIN_EXECUTION_ERROR = "plugin_execution_error"


def publish_plugin_call(
    bus: EventBus, plugin: Plugin, action: str, identity: Identity, outcome: Outcome
) -> None:
    """Executor listener (with ``bus`` bound): publish what happened in one plugin call."""
    failed = outcome.status == "crash" or outcome.status == "timeout"
    if not failed and not bus.listened(PLUGIN_EXECUTED):
        return
    duration = round(outcome.duration, 6)
    payload = {
        "plugin": plugin.name,
        "action": action,
        "user_id": identity.user_id,
        "app_id": identity.app_id,
        "duration": duration,
        "status": outcome.status,
        # The reference's names for the same facts: seconds, as its time.time() difference.
        "user": identity.user_id,
        "execution_time": duration,
    }
    bus.publish(PLUGIN_EXECUTED, payload, as_caller=False)
    if failed:
        # The reference sent the exception's text; the log has it here (a handler may be
        # another plugin's), and "error" says only what kind of failure it was.
        error = "timed out" if outcome.status == "timeout" else "raised an exception"
        report = {**payload, "error": f"plugin {plugin.name!r} {error}"}
        bus.publish(PLUGIN_EXECUTION_ERROR, report, as_caller=False)
