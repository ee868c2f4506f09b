"""What plans and entitlements tell the rest of the app: events on the bus and metrics.

``entitlement.consumed``, ``entitlement.limit_reached``, ``entitlement.feature_blocked``
and ``entitlement.period_reset`` are runtime events (a plugin cannot publish them); each
carries the plugin, the user and app ids and what was counted or refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from tessera.auth.identity import Identity
from tessera.entitlements.ledger import Hold, UsageKey
from tessera.metrics import Metrics
from tessera.services.event_bus import EventBus

if TYPE_CHECKING:
    from tessera.entitlements.gate import Grant

CONSUMED = "entitlement.consumed"
LIMIT_REACHED = "entitlement.limit_reached"
FEATURE_BLOCKED = "entitlement.feature_blocked"
PERIOD_RESET = "entitlement.period_reset"


class Events:
    """Publishes the entitlement events and counts them in the runtime's metrics."""

    def __init__(self, metrics: Metrics, bus: EventBus) -> None:
        self._metrics = metrics
        self._bus = bus
        # Each (plugin, limit)'s counter child: labels() takes a lock on every call.
        self._consumed: dict[tuple[str, str], Any] = {}

    def _publish(self, event: str, payload: dict[str, Any]) -> None:
        if self._bus.listened(event):
            self._bus.publish(event, payload, as_caller=False)

    def refused(self, plugin: str, reason: str, name: str = "") -> None:
        self._metrics.entitlement_refusals.labels(plugin, reason, name).inc()

    def consumed(self, grant: Grant, hold: Hold) -> None:
        counter = self._consumed.get((grant.plugin, hold.key.limit))
        if counter is None:
            counter = self._metrics.entitlement_consumed.labels(grant.plugin, hold.key.limit)
            self._consumed[(grant.plugin, hold.key.limit)] = counter
        counter.inc(hold.amount)
        if not self._bus.listened(CONSUMED):
            return
        self._publish(
            CONSUMED,
            {
                **_who(grant.identity),
                "plugin": grant.plugin,
                "plan": grant.plan,
                "limit": hold.key.limit,
                "amount": hold.amount,
                "period": hold.key.period,
            },
        )

    def limit_reached(
        self, plugin: str, limit: str, allowed: int, resets_at: datetime | None, who: Identity
    ) -> None:
        self.refused(plugin, "limit_reached", limit)
        payload = {"plugin": plugin, "limit": limit, "allowed": allowed}
        payload["resets_at"] = resets_at.isoformat() if resets_at else None
        self._publish(LIMIT_REACHED, {**_who(who), **payload})

    def feature_blocked(self, plugin: str, feature: str, plan: str, who: Identity) -> None:
        self.refused(plugin, "feature_required", feature)
        self._publish(
            FEATURE_BLOCKED, {**_who(who), "plugin": plugin, "feature": feature, "plan": plan}
        )

    def period_reset(self, key: UsageKey, previous: str, who: Identity) -> None:
        self._publish(
            PERIOD_RESET,
            {**_who(who), "plugin": key.plugin, "limit": key.limit,
             "previous_period": previous, "period": key.period},
        )  # fmt: skip


def _who(identity: Identity) -> dict[str, str]:
    return {"user_id": identity.user_id, "app_id": identity.app_id}
