"""``core.entitlements``: what a plugin asks about its caller's plan while it runs.

The reference's functions and argument names. They answer for the caller of the call in
progress and the calling plugin only: naming another user or plugin is refused, as any
reach past the caller is. Without a plans file everything is allowed and unlimited.
Limits are those of the plugin's ``entitlements.yaml``: ``period_type`` and
``limit_value``, which the reference's callers pass, are accepted and not used.
"""

from __future__ import annotations

from typing import Any

from tessera.context import current_call
from tessera.entitlements.errors import FeatureRequired, LimitReached
from tessera.entitlements.gate import LEASE_MARGIN, Gate, allowance
from tessera.entitlements.ledger import UNLIMITED, UsageKey
from tessera.entitlements.periods import period
from tessera.entitlements.spec import Limit, PluginEntitlements
from tessera.isolation import IsolationError
from tessera.services import running

__all__ = ["check_action", "check_feature", "check_limit", "consume_limit", "get_usage"]

_UNLIMITED_USAGE = {
    "allowed": -1,
    "used": 0,
    "remaining": -1,
    "period": "unlimited",
    "resets_at": None,
}


def _caller(user_id: str, plugin: str) -> tuple[Gate | None, Any]:
    call = current_call.get()
    if call is None:
        raise IsolationError("core.entitlements is for plugin calls, which have a caller")
    if user_id != call.identity.user_id or plugin != call.plugin:
        raise IsolationError(
            "core.entitlements answers for the caller of this call and this plugin only "
            f"(user_id {call.identity.user_id!r}, plugin {call.plugin!r})"
        )
    return running.current().entitlements, call.identity


async def _tier(gate: Gate, identity: Any, plugin: str) -> tuple[PluginEntitlements | None, Any]:
    spec = gate.spec_of(plugin)
    if spec is None:
        return None, None
    return spec, spec.tier(await gate.plan_of(identity))


async def check_feature(
    user_id: str, plugin: str, feature: str, entitlements: dict[str, Any] | None = None
) -> bool:
    """Whether the caller's plan has ``feature`` (a feature the file does not declare: yes)."""
    gate, identity = _caller(user_id, plugin)
    if gate is None:
        return True
    spec, tier = await _tier(gate, identity, plugin)
    return spec is None or bool(tier.features.get(feature, True))


def _limit(spec: PluginEntitlements | None, limit_key: str) -> Limit | None:
    limit = spec.limits.get(limit_key) if spec is not None else None
    return limit if limit is not None and limit.consumable else None


async def get_usage(
    user_id: str,
    plugin: str,
    limit_key: str,
    period_type: str | None = None,
    limit_value: int | None = None,
) -> dict[str, Any]:
    """``{allowed, used, remaining, period, resets_at}`` of a consumable limit this period
    (``-1``: unlimited)."""
    gate, identity = _caller(user_id, plugin)
    if gate is None:
        return dict(_UNLIMITED_USAGE)
    spec, tier = await _tier(gate, identity, plugin)
    limit = _limit(spec, limit_key)
    if limit is None:
        return dict(_UNLIMITED_USAGE)
    current = period(limit.reset, gate.clock())
    key = UsageKey(identity.app_id, identity.user_id, plugin, limit_key, current.key)
    [used] = await gate.ledger.used([key])
    allowed = tier.limits[limit_key]
    return {
        "allowed": allowed,
        "used": used,
        "remaining": -1 if allowed < 0 else max(0, allowed - used),
        "period": key.period,
        "resets_at": current.ends_iso,
    }


async def check_limit(
    user_id: str,
    plugin: str,
    limit_key: str,
    needed: int = 1,
    period_type: str | None = None,
    limit_value: int | None = None,
) -> tuple[bool, int]:
    """``(can_proceed, remaining)``: whether ``needed`` more fits (``-1``: unlimited)."""
    usage = await get_usage(user_id, plugin, limit_key)
    if usage["remaining"] == -1:
        return True, -1
    return usage["remaining"] >= needed, usage["remaining"]


async def consume_limit(
    user_id: str,
    plugin: str,
    limit_key: str,
    amount: int = 1,
    period_type: str | None = None,
    limit_value: int | None = None,
) -> int:
    """Charge ``amount`` now, atomically; the remaining amount (``-1``: unlimited).
    ValueError when it does not fit: nothing is charged then."""
    gate, identity = _caller(user_id, plugin)
    if gate is None:
        return -1
    spec, tier = await _tier(gate, identity, plugin)
    limit = _limit(spec, limit_key)
    if limit is None:
        return -1
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValueError(f"amount must be a whole number above zero, got {amount!r}")
    current = period(limit.reset, gate.clock())
    key = UsageKey(identity.app_id, identity.user_id, plugin, limit_key, current.key)
    ceiling = allowance(tier.limits[limit_key])
    hold = await gate.ledger.hold(key, amount, ceiling, LEASE_MARGIN, current.ends_at)
    if hold is None:
        gate.events.limit_reached(plugin, limit_key, tier.limits[limit_key], current.ends, identity)
        raise ValueError(f"Insufficient {limit_key}: need {amount}")
    await gate.ledger.commit(hold)
    [used] = await gate.ledger.used([key])
    return -1 if ceiling == UNLIMITED else max(0, int(ceiling) - used)


async def check_action(
    user_id: str,
    plugin: str,
    action: str,
    entitlements: dict[str, Any] | None = None,
    entitlements_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What ``action`` would do, without running or charging it: ``{allowed,
    would_consume, blocking_reason, blocking_type}``."""
    gate, identity = _caller(user_id, plugin)
    result: dict[str, Any] = {
        "allowed": True,
        "would_consume": {},
        "blocking_reason": None,
        "blocking_type": None,
    }
    if gate is None:
        return result
    try:
        grant = await gate.admit(
            plugin, gate.spec_of(plugin), action, identity, timeout=0, dry_run=True
        )
    except (FeatureRequired, LimitReached) as exc:
        kind = "feature" if isinstance(exc, FeatureRequired) else "limit"
        return {**result, "allowed": False, "blocking_reason": str(exc), "blocking_type": kind}
    return {**result, "would_consume": dict(grant.would_consume)}
