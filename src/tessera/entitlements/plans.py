"""The app's plans file, in the reference's ``subscription_config.json`` format.

``subscription_plans`` lists the plans (``name``, ``price``, ``currency``,
``billing_cycle``, ``description``, ``plugins_unlocked``: plugin names or ``["*"]``);
``settings`` names the ``default_plan`` and the ``trial_plan`` with its
``trial_period_days``. Other keys are kept and served as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.entitlements.errors import ConfigError

ALL_PLUGINS = "*"
# The longest trial: a hundred years, well inside what the calendar (and a store) holds.
MAX_TRIAL_DAYS = 36_500


@dataclass(frozen=True)
class Plan:
    """One plan: its name and the plugins it unlocks (every one when ``everything``)."""

    name: str
    plugins: frozenset[str]
    everything: bool

    def unlocks(self, plugin: str) -> bool:
        return self.everything or plugin in self.plugins


@dataclass(frozen=True)
class Plans:
    """Every plan of the app and its trial and default settings."""

    plans: dict[str, Plan]
    default_plan: str
    trial_plan: str | None
    trial_days: int
    #: The file's object as read, for ``GET /api/subscription-plans``.
    document: dict[str, Any]

    def unlocking(self, plugin: str) -> list[str]:
        """The names of the plans that unlock ``plugin``, in the file's order."""
        return [p.name for p in self.plans.values() if p.unlocks(plugin)]

    def unlocks(self, plan: str, plugin: str) -> bool:
        found = self.plans.get(plan)
        return found is not None and found.unlocks(plugin)


def read_plans(path: Path) -> Plans:
    """The plans of ``path``; ConfigError naming the file and the faulty key."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ConfigError(f"{path}: cannot read the plans file: {exc}") from None
    return parse_plans(raw, str(path))


def parse_plans(raw: Any, source: str) -> Plans:
    """Validate a plans document; ``source`` names it in errors."""

    def fail(where: str, problem: str) -> ConfigError:
        return ConfigError(f"{source}: {where} {problem}")

    if not isinstance(raw, dict):
        raise fail("the document", "must be a JSON object")
    listed = raw.get("subscription_plans")
    if not isinstance(listed, list) or not listed:
        raise fail("subscription_plans", "must be a non-empty list of plans")
    plans: dict[str, Plan] = {}
    for index, entry in enumerate(listed):
        where = f"subscription_plans[{index}]"
        if not isinstance(entry, dict):
            raise fail(where, "must be an object")
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise fail(f"{where}.name", "must be a non-empty string")
        if name in plans:
            raise fail(f"{where}.name", f"repeats the plan {name!r}")
        unlocked = entry.get("plugins_unlocked", [])
        if not isinstance(unlocked, list) or not all(isinstance(p, str) for p in unlocked):
            raise fail(f"{where}.plugins_unlocked", 'must be a list of plugin names or ["*"]')
        plans[name] = Plan(name, frozenset(unlocked) - {ALL_PLUGINS}, ALL_PLUGINS in unlocked)
    settings = raw.get("settings", {})
    if not isinstance(settings, dict):
        raise fail("settings", "must be an object")
    default = settings.get("default_plan", "free" if "free" in plans else None)
    if not isinstance(default, str) or default not in plans:
        raise fail("settings.default_plan", f"must name one of the plans, got {default!r}")
    trial = settings.get("trial_plan")
    if trial is not None and (not isinstance(trial, str) or trial not in plans):
        raise fail("settings.trial_plan", f"must name one of the plans, got {trial!r}")
    days = settings.get("trial_period_days", 14)
    if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= MAX_TRIAL_DAYS:
        raise fail(
            "settings.trial_period_days",
            f"must be a whole number from 0 to {MAX_TRIAL_DAYS}, got {days!r}",
        )
    return Plans(plans, str(default), trial, days, raw)
