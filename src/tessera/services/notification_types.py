"""The notification types plugins declare, for front ends that list them with a switch each.

A plugin may list the types it sends under ``"notifications"`` in its manifest, in the
reference's ``notifications_config.json`` form::

    "notifications": [
      {"id": "task_due", "label": "Task due", "description": "...", "category": "plugins",
       "channels": ["in_app"]}
    ]

Only ``id`` is required. Every type is on until the user turns it off (the notification
service pushes a type unless the user muted it), so ``default_enabled`` is always true.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tessera.plugins.registry import Plugin

DEFAULT_CATEGORY = "plugins"
_CATEGORY_NAMES = {"plugins": ("Plugins", "Notifications from installed plugins")}
_TEXT_LIMIT = 500


def declared_types(plugins: Iterable[Plugin]) -> list[dict[str, Any]]:
    """The types the enabled, loaded ``plugins`` declare, each with its plugin's name;
    malformed entries are skipped (a manifest is not the caller's to fix)."""
    types: list[dict[str, Any]] = []
    seen: set[str] = set()
    for plugin in sorted(plugins, key=lambda p: p.name):
        if plugin.error is not None or not plugin.enabled:
            continue
        entries = plugin.manifest.extra.get("notifications")
        if not isinstance(entries, list):
            continue
        for entry in entries:
            declared = _declared(entry, plugin.name)
            if declared is not None and declared["id"] not in seen:
                seen.add(declared["id"])
                types.append(declared)
    return types


def categories(types: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """One ``{id, name, description}`` per category the types use, ``plugins`` first."""
    ids = sorted({str(t["category"]) for t in types} | {DEFAULT_CATEGORY})
    ids.sort(key=lambda c: c != DEFAULT_CATEGORY)
    result = []
    for category in ids:
        name, description = _CATEGORY_NAMES.get(category, (category.replace("_", " ").title(), ""))
        result.append({"id": category, "name": name, "description": description})
    return result


def _declared(entry: object, plugin: str) -> dict[str, Any] | None:
    if not isinstance(entry, Mapping):
        return None
    kind = entry.get("id")
    if not isinstance(kind, str) or not kind or len(kind) > _TEXT_LIMIT:
        return None
    channels = entry.get("channels")
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        channels = ["in_app"]
    return {
        "id": kind,
        "label": _text(entry.get("label")) or kind,
        "description": _text(entry.get("description")),
        "category": _text(entry.get("category")) or DEFAULT_CATEGORY,
        "channels": channels,
        "default_enabled": True,
        "plugin": plugin,
    }


def _text(value: object) -> str:
    return value[:_TEXT_LIMIT] if isinstance(value, str) else ""
