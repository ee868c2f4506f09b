"""The check before each plugin call: plan, features, limits; and the charge after it.

``admit`` answers with a :class:`Grant` (the ``_entitlements`` the plugin receives and the
amounts held for it) or raises a :class:`~tessera.entitlements.errors.Refused`;
``settle`` charges the holds when the call succeeded and gives them back otherwise. A
store or Redis failure raises EntitlementsUnavailable: the call is refused, never free.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from tessera.auth.identity import Identity
from tessera.entitlements.errors import FeatureRequired, LimitReached, PlanRequired
from tessera.entitlements.events import Events
from tessera.entitlements.ledger import UNLIMITED, Hold, Ledger, UsageKey
from tessera.entitlements.periods import Clock, period, utc_now
from tessera.entitlements.plans import Plans
from tessera.entitlements.spec import ActionRule, PluginEntitlements, Tier
from tessera.entitlements.subscriptions import Subscriptions

logger = logging.getLogger("tessera.entitlements")

DRY_RUN = "_entitlement_dry_run"
# Seconds a hold outlives its call's timeout, should the process die before settling.
LEASE_MARGIN = 60.0
# Counters whose current period this process has seen; past this many, it forgets them
# all and asks the ledger again (which answers the same: the ledger keeps the truth).
PERIODS_KEPT = 100_000


class Grant(NamedTuple):
    """What ``admit`` decided for one call."""

    plan: str
    plugin: str
    identity: Identity
    entitlements: dict[str, Any]
    holds: tuple[Hold, ...] = ()
    would_consume: dict[str, int] = {}


def allowance(value: int) -> float:
    """A tier's limit as a ceiling: below zero means unlimited."""
    return UNLIMITED if value < 0 else value


class Gate:
    """Plans and entitlements of one runtime (absent when no plans file is configured).

    :param spec_of: the entitlements of a plugin by name (None: it has none).
    :param clock: where the time comes from; tests pass one to cross period boundaries.
    """

    def __init__(
        self,
        plans: Plans,
        subscriptions: Subscriptions,
        ledger: Ledger,
        events: Events,
        spec_of: Callable[[str], PluginEntitlements | None],
        clock: Clock = utc_now,
    ) -> None:
        self.plans = plans
        self.subscriptions = subscriptions
        self.ledger = ledger
        self.events = events
        self.spec_of = spec_of
        self.clock = clock
        self._periods: dict[tuple[str, ...], str] = {}

    async def plan_of(self, identity: Identity) -> str:
        """The caller's plan: the token's claim, else the subscription record."""
        if identity.plan is not None:
            return identity.plan
        subscription = await self.subscriptions.current(
            identity.app_id, identity.user_id, self.clock()
        )
        return subscription.plan

    async def admit(
        self,
        plugin: str,
        spec: PluginEntitlements | None,
        action: str,
        identity: Identity,
        *,
        timeout: float,
        dry_run: bool = False,
    ) -> Grant:
        """Check one call and hold what it consumes. A dry run holds nothing and tells
        no one: no event, no refusal counted."""
        plan = await self.plan_of(identity)
        if not self.plans.unlocks(plan, plugin):
            if not dry_run:
                self.events.refused(plugin, "plan_required")
            unlocking = self.plans.unlocking(plugin)
            raise PlanRequired(
                f"Plugin {plugin!r} needs one of the plans {', '.join(unlocking) or '(none)'}; "
                f"the caller's plan is {plan!r}.",
                plan=plan,
                plans=unlocking,
            )
        if spec is None:
            return Grant(
                plan, plugin, identity, {"plan": plan, "tier": plan, "features": {}, "limits": {}}
            )
        tier = spec.tier(plan)
        rule = spec.actions.get(action)
        if rule is not None:
            self._features(plugin, spec, tier, rule, plan, identity, dry_run)
        now = self.clock()
        keys = self._keys(spec, identity, plugin, now)
        if not dry_run:
            await self._roll(keys, identity)
        holds: tuple[Hold, ...] = ()
        if rule is not None and not dry_run and rule.consumes:
            holds = await self._hold(plugin, spec, tier, rule, keys, now, identity, timeout)
        try:
            used = dict(zip(keys, await self.ledger.used(list(keys.values())), strict=True))
            if rule is not None:
                self._check(plugin, spec, tier, rule, used, now, identity, dry_run)
        except BaseException:
            await self.release(holds)
            raise
        entitlements = self._context(plan, spec, tier, used, now)
        consumes = dict(rule.consumes) if rule is not None else {}
        return Grant(plan, plugin, identity, entitlements, holds, consumes)

    def _features(
        self,
        plugin: str,
        spec: PluginEntitlements,
        tier: Tier,
        rule: ActionRule,
        plan: str,
        identity: Identity,
        dry_run: bool,
    ) -> None:
        for feature in rule.requires_features:
            if not tier.features.get(feature, False):
                if not dry_run:
                    self.events.feature_blocked(plugin, feature, plan, identity)
                raise FeatureRequired(
                    f"This action needs the feature {feature!r}, which the plan {plan!r} "
                    "does not include.",
                    feature=feature,
                    plan=plan,
                    plans=spec.plans_with(feature),
                )

    def _keys(
        self, spec: PluginEntitlements, identity: Identity, plugin: str, now: datetime
    ) -> dict[str, UsageKey]:
        keys = {}
        for name, limit in spec.limits.items():
            if limit.consumable:
                current = period(limit.reset, now).key
                keys[name] = UsageKey(identity.app_id, identity.user_id, plugin, name, current)
        return keys

    async def _roll(self, keys: dict[str, UsageKey], identity: Identity) -> None:
        """Publish ``period_reset`` for each counter entering a new period: once, from
        whichever process the ledger finds first (this one checks each counter once a
        period)."""
        for key in keys.values():
            counter = key[:4]
            if self._periods.get(counter) == key.period:
                continue
            previous = await self.ledger.roll(key)
            if len(self._periods) >= PERIODS_KEPT:
                self._periods.clear()
            self._periods[counter] = key.period
            if previous is not None:
                self.events.period_reset(key, previous, identity)

    async def _hold(
        self,
        plugin: str,
        spec: PluginEntitlements,
        tier: Tier,
        rule: ActionRule,
        keys: dict[str, UsageKey],
        now: datetime,
        identity: Identity,
        timeout: float,
    ) -> tuple[Hold, ...]:
        lease = (timeout if timeout > 0 else 3600.0) + LEASE_MARGIN
        holds: list[Hold] = []
        for name, amount in rule.consumes.items():
            current = period(spec.limits[name].reset, now)
            try:
                hold = await self.ledger.hold(
                    keys[name], amount, allowance(tier.limits[name]), lease, current.ends_at
                )
            except BaseException:
                await self.release(tuple(holds))
                raise
            if hold is None:
                await self.release(tuple(holds))
                raise self._limit_reached(plugin, name, tier, current.ends, identity)
            holds.append(hold)
        return tuple(holds)

    def _check(
        self,
        plugin: str,
        spec: PluginEntitlements,
        tier: Tier,
        rule: ActionRule,
        used: dict[str, int],
        now: datetime,
        identity: Identity,
        dry_run: bool,
    ) -> None:
        """What a hold does not cover: limits the plugin consumes itself (``checks``), and
        in a dry run the amounts the action would consume."""
        needed = {name: 1 for name in rule.checks}
        if dry_run:
            needed.update(rule.consumes)
        for name, amount in needed.items():
            if used[name] + amount > allowance(tier.limits[name]):
                ends = period(spec.limits[name].reset, now).ends
                raise self._limit_reached(plugin, name, tier, ends, identity, quiet=dry_run)

    def _limit_reached(
        self,
        plugin: str,
        name: str,
        tier: Tier,
        ends: datetime | None,
        identity: Identity,
        *,
        quiet: bool = False,
    ) -> LimitReached:
        if not quiet:
            self.events.limit_reached(plugin, name, tier.limits[name], ends, identity)
        when = f"; it resets at {ends.isoformat()}" if ends else "; it does not reset"
        return LimitReached(
            f"The limit {name!r} of plugin {plugin!r} is used up ({tier.limits[name]}){when}.",
            ends,
            limit=name,
            allowed=tier.limits[name],
        )

    def _context(
        self, plan: str, spec: PluginEntitlements, tier: Tier, used: dict[str, int], now: datetime
    ) -> dict[str, Any]:
        """The ``_entitlements`` the plugin receives: its features, limits and usage."""
        limits: dict[str, Any] = {}
        for name, limit in spec.limits.items():
            allowed = tier.limits[name]
            if not limit.consumable:
                limits[name] = {"allowed": allowed}
                continue
            limits[name] = {
                "allowed": allowed,
                "used": used[name],
                "remaining": -1 if allowed < 0 else max(0, allowed - used[name]),
                "resets_at": period(limit.reset, now).ends_iso,
            }
        return {"plan": plan, "tier": plan, "features": dict(tier.features), "limits": limits}

    async def settle(self, grant: Grant, succeeded: bool) -> None:
        """Charge the call's holds if it succeeded, give them back otherwise."""
        if not grant.holds:
            return
        if not succeeded:
            await self.release(grant.holds)
            return
        for hold in grant.holds:
            try:
                await self.ledger.commit(hold)
            except Exception:  # the call is done: its answer stands, the log says why
                logger.exception("could not charge %s to %s", hold.amount, hold.key.id)
                continue
            self.events.consumed(grant, hold)

    async def release(self, holds: tuple[Hold, ...]) -> None:
        for hold in holds:
            try:
                await self.ledger.release(hold)
            except Exception:  # the hold's lease ends it
                logger.exception("could not give back %s to %s", hold.amount, hold.key.id)


def retry_after(resets_at: datetime | None, now: datetime) -> str | None:
    """The Retry-After value for a limit that resets at ``resets_at``."""
    if resets_at is None:
        return None
    return str(max(1, math.ceil((resets_at - now).total_seconds())))
