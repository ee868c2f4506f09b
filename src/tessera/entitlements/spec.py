"""A plugin's ``entitlements.yaml``: its features, limits, tiers and per-action rules.

The reference's format (``schema_version: "1.0"``): ``features`` are on/off capabilities,
``limits`` are consumable (used up, reset by the calendar) or caps (a ceiling the plugin
reads), ``tiers`` give each plan its values (``inherits`` another tier), and ``actions``
say which features an action requires and what it consumes. A limit below zero is
unlimited. Everything is checked when the plugin loads: a file that is not valid stops
the plugin with an error naming the file and the path in the document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tessera.entitlements.errors import ConfigError
from tessera.entitlements.periods import RESETS, Reset

FILENAME = "entitlements.yaml"
SCHEMA_VERSIONS = ("1.0",)
_TOP_KEYS = {"schema_version", "plugin", "features", "limits", "tiers", "actions", "hooks"}


#: The largest amount or limit: what every counter backend holds exactly (Redis's Lua
#: scripts count in doubles; SQLite and MongoDB in 64-bit integers).
LARGEST = 2**53 - 1


@dataclass(frozen=True)
class Limit:
    """One limit's definition."""

    key: str
    consumable: bool
    reset: Reset
    default: int
    description: str = ""


@dataclass(frozen=True)
class ActionRule:
    """What one action requires and consumes (charged when the call succeeds)."""

    requires_features: tuple[str, ...] = ()
    consumes: dict[str, int] = field(default_factory=dict)
    #: Limits that must have something left before the call, consumed by the plugin itself.
    checks: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """The rule as the OpenAPI description shows it."""
        return {
            "requires_features": list(self.requires_features),
            "consumes": dict(self.consumes),
            "checks": dict(self.checks),
        }


@dataclass(frozen=True)
class Tier:
    """What one plan gets: every feature's value and every limit's allowance."""

    features: dict[str, bool]
    limits: dict[str, int]


@dataclass(frozen=True)
class PluginEntitlements:
    """A plugin's validated ``entitlements.yaml``, tiers resolved."""

    plugin: str
    features: dict[str, bool]  # each feature's default
    limits: dict[str, Limit]
    tiers: dict[str, Tier]
    actions: dict[str, ActionRule]
    defaults: Tier

    def tier(self, plan: str) -> Tier:
        """The tier of ``plan``; the definitions' defaults for a plan the file omits."""
        return self.tiers.get(plan, self.defaults)

    def plans_with(self, feature: str) -> list[str]:
        """The tiers in which ``feature`` is on."""
        return [name for name, tier in self.tiers.items() if tier.features.get(feature)]


def read_entitlements(folder: Path, name: str) -> PluginEntitlements | None:
    """The plugin's entitlements, None when it has no ``entitlements.yaml``; ConfigError
    when the file cannot be read or is not valid."""
    path = folder / FILENAME
    if not path.exists():
        return None
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError) as exc:
        # RecursionError: nesting deeper than the parser goes, which no valid file has.
        raise ConfigError(f"{FILENAME} of plugin {name!r} cannot be read: {exc}") from None
    return parse_entitlements(raw, name)


class _Checker:
    def __init__(self, plugin: str) -> None:
        self.plugin = plugin

    def fail(self, where: str, problem: str) -> ConfigError:
        return ConfigError(f"{FILENAME} of plugin {self.plugin!r}: {where} {problem}")

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise self.fail(where, "must be a mapping with string keys")
        return value

    def whole(self, value: Any, where: str) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(where, f"must be a whole number, got {value!r}")
        if abs(value) > LARGEST:
            raise self.fail(where, f"must be at most {LARGEST:,} (-1 for no limit), got {value}")
        return value

    def boolean(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"must be true or false, got {value!r}")
        return value


def parse_entitlements(raw: Any, plugin: str) -> PluginEntitlements:
    """Validate an ``entitlements.yaml`` document of ``plugin``."""
    check = _Checker(plugin)
    doc = check.mapping(raw, "the document")
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise check.fail(unknown[0], f"is not a known key (known: {', '.join(sorted(_TOP_KEYS))})")
    if str(doc.get("schema_version")) not in SCHEMA_VERSIONS:
        raise check.fail("schema_version", f'must be "1.0", got {doc.get("schema_version")!r}')
    if doc.get("plugin") != plugin:
        raise check.fail(
            "plugin", f"must be the folder's name {plugin!r}, got {doc.get('plugin')!r}"
        )
    features = _features(check, doc.get("features"))
    limits = _limits(check, doc.get("limits"))
    defaults = Tier(features, {key: limit.default for key, limit in limits.items()})
    tiers = _tiers(check, doc.get("tiers"), defaults)
    actions = _actions(check, doc.get("actions"), features, limits)
    return PluginEntitlements(plugin, features, limits, tiers, actions, defaults)


def _features(check: _Checker, raw: Any) -> dict[str, bool]:
    features = {}
    for key, value in check.mapping(raw, "features").items():
        entry = check.mapping(value, f"features.{key}")
        # The reference's default for a feature that names none: on.
        features[key] = check.boolean(entry.get("default", True), f"features.{key}.default")
    return features


def _limits(check: _Checker, raw: Any) -> dict[str, Limit]:
    limits = {}
    for key, value in check.mapping(raw, "limits").items():
        where = f"limits.{key}"
        entry = check.mapping(value, where)
        kind = entry.get("type", "consumable")
        if kind not in ("consumable", "cap"):
            raise check.fail(f"{where}.type", f"must be consumable or cap, got {kind!r}")
        reset = entry.get("reset", "monthly")
        if reset not in RESETS:
            raise check.fail(f"{where}.reset", f"must be one of {', '.join(RESETS)}, got {reset!r}")
        default = check.whole(entry.get("default", 0), f"{where}.default")
        description = str(entry.get("description", ""))
        limits[key] = Limit(key, kind == "consumable", reset, default, description)
    return limits


def _tiers(check: _Checker, raw: Any, defaults: Tier) -> dict[str, Tier]:
    declared = check.mapping(raw, "tiers")
    for name, value in declared.items():
        entry = check.mapping(value, f"tiers.{name}")
        for key, flag in check.mapping(entry.get("features"), f"tiers.{name}.features").items():
            if key not in defaults.features:
                raise check.fail(f"tiers.{name}.features.{key}", "is not a declared feature")
            check.boolean(flag, f"tiers.{name}.features.{key}")
        for key, amount in check.mapping(entry.get("limits"), f"tiers.{name}.limits").items():
            if key not in defaults.limits:
                raise check.fail(f"tiers.{name}.limits.{key}", "is not a declared limit")
            check.whole(amount, f"tiers.{name}.limits.{key}")
        parent = entry.get("inherits")
        if parent is not None and (not isinstance(parent, str) or parent not in declared):
            raise check.fail(f"tiers.{name}.inherits", f"names an unknown tier {parent!r}")
    return {name: _resolve(check, declared, name, defaults, ()) for name in declared}


def _resolve(
    check: _Checker, declared: dict[str, Any], name: str, defaults: Tier, seen: tuple[str, ...]
) -> Tier:
    if name in seen:
        chain = " -> ".join((*seen, name))
        raise check.fail(f"tiers.{seen[0]}.inherits", f"goes round in a circle: {chain}")
    entry = declared[name] or {}
    parent = entry.get("inherits")
    base = (
        defaults if parent is None else _resolve(check, declared, parent, defaults, (*seen, name))
    )
    limits = {k: check.whole(v, k) for k, v in (entry.get("limits") or {}).items()}
    return Tier(
        {**base.features, **(entry.get("features") or {})},
        {**base.limits, **limits},
    )


def _actions(
    check: _Checker, raw: Any, features: dict[str, bool], limits: dict[str, Limit]
) -> dict[str, ActionRule]:
    actions = {}
    for name, value in check.mapping(raw, "actions").items():
        where = f"actions.{name}"
        entry = check.mapping(value, where)
        required = entry.get("requires_features") or []
        if not isinstance(required, list):
            raise check.fail(f"{where}.requires_features", "must be a list of feature names")
        for index, feature in enumerate(required):
            if not isinstance(feature, str) or feature not in features:
                raise check.fail(
                    f"{where}.requires_features[{index}]", f"names an unknown feature {feature!r}"
                )
        consumes = {}
        for key, amount in check.mapping(entry.get("consumes"), f"{where}.consumes").items():
            if key not in limits or not limits[key].consumable:
                raise check.fail(f"{where}.consumes.{key}", "is not a declared consumable limit")
            consumes[key] = check.whole(amount, f"{where}.consumes.{key}")
            if consumes[key] <= 0:
                raise check.fail(f"{where}.consumes.{key}", "must be above zero")
        checks = {}
        for key, mode in check.mapping(entry.get("checks"), f"{where}.checks").items():
            if key not in limits or not limits[key].consumable:
                raise check.fail(f"{where}.checks.{key}", "is not a declared consumable limit")
            if mode not in ("exact", "estimate"):
                raise check.fail(
                    f"{where}.checks.{key}", f"must be exact or estimate, got {mode!r}"
                )
            checks[key] = mode
        actions[name] = ActionRule(tuple(required), consumes, checks)
    return actions
