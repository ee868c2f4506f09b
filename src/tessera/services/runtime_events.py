"""The events the runtime itself publishes about plugin calls.

``plugin_executed`` follows every call; ``plugin_execution_error`` also follows a call that
crashed or timed out (a plugin's own ``{"error": ...}`` answer is not a runtime error).
"""

from __future__ import annotations

from tessera.auth.identity import Identity
from tessera.plugins.executor import Outcome
from tessera.plugins.registry import Plugin
from tessera.services.event_bus import bus

PLUGIN_EXECUTED = "plugin_executed"
PLUGIN_EXECUTION_ERROR = "plugin_execution_error"


def publish_plugin_call(plugin: Plugin, action: str, identity: Identity, outcome: Outcome) -> None:
    """Executor listener: publish what happened in one plugin call."""
    failed = outcome.status == "crash" or outcome.status == "timeout"
    if not failed and not bus.listened(PLUGIN_EXECUTED):
        return
    payload = {
        "plugin": plugin.name,
        "action": action,
        "user_id": identity.user_id,
        "app_id": identity.app_id,
        "duration": round(outcome.duration, 6),
        "status": outcome.status,
    }
    bus.publish(PLUGIN_EXECUTED, payload, as_caller=False)
    if failed:
        bus.publish(PLUGIN_EXECUTION_ERROR, payload, as_caller=False)
