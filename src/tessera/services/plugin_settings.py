"""Plugin settings: each user's settings for each plugin, over its defaults, and
``core.settings_manager``.

A plugin may declare its settings in its manifest as a JSON Schema under ``"settings"``;
the ``default`` of each property is the value a user gets until they save another. Saved
values are validated against the schema (after the defaults are filled in), stored in the
``plugin_settings`` collection of the system database and announced with the
``plugin_settings_updated`` event and, under the name the reference's settings manager
used, ``settings_updated``.

:class:`SettingsService` is the runtime's: every method names the app and the user.
:class:`SettingsManager` is what plugins import: always the caller's app, and a user other
than the caller needs the escalation right.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import orjson
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from jsonschema.validators import validator_for
from pymongo import ASCENDING

from tessera.encoding import encode_json
from tessera.plugins.registry import PluginRegistry
from tessera.services import running
from tessera.services.event_bus import EventBus
from tessera.services.recipients import settings_app

PLUGIN_SETTINGS_UPDATED = "plugin_settings_updated"
SETTINGS_UPDATED = "settings_updated"


class SettingsSchemaError(RuntimeError):
    """A plugin's manifest declares a settings schema that is not valid JSON Schema."""


class SettingsService:
    """Reads and saves plugin settings, validating them against the manifest's schema."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._collection: Any = None
        self._registry: PluginRegistry | None = None

    async def start(self, database: Any, registry: PluginRegistry) -> None:
        """Use ``database`` (the system database) and the plugins of ``registry``."""
        self._collection = database["plugin_settings"]
        self._registry = registry
        await self._collection.create_index(
            [("app_id", ASCENDING), ("user_id", ASCENDING), ("plugin", ASCENDING)], unique=True
        )

    def stop(self) -> None:
        self._collection = self._registry = None

    def _running(self) -> tuple[Any, PluginRegistry]:
        if self._collection is None or self._registry is None:
            raise RuntimeError(
                "core.settings_manager was used outside a running Tessera runtime; "
                "run the plugin with `tessera serve` or tessera.testing"
            )
        return self._collection, self._registry

    def schema(self, plugin: str) -> dict[str, Any] | None:
        """The settings schema the plugin's manifest declares, if any."""
        found = self._running()[1].get(plugin)
        schema = found.manifest.extra.get("settings") if found is not None else None
        return schema if isinstance(schema, dict) else None

    def defaults(self, plugin: str) -> dict[str, Any]:
        """The ``default`` of each property of the plugin's settings schema."""
        properties = (self.schema(plugin) or {}).get("properties") or {}
        return {
            name: spec["default"]
            for name, spec in properties.items()
            if isinstance(spec, dict) and "default" in spec
        }

    async def get(self, app_id: str, user_id: str, plugin: str) -> dict[str, Any]:
        """The user's saved settings for ``plugin`` merged over the plugin's defaults."""
        collection, _ = self._running()
        plugin = str(plugin)
        saved = await collection.find_one({"app_id": app_id, "user_id": user_id, "plugin": plugin})
        values = orjson.loads(saved["values"]) if saved else {}
        return {**self.defaults(plugin), **values}

    async def save(
        self, app_id: str, user_id: str, plugin: str, values: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Validate and store ``values`` as the user's settings for ``plugin``.

        Returns ``{"success": True, "settings": merged}``, or ``{"success": False,
        "error": message, "field": path}`` when the values break the plugin's schema.
        """
        collection, _ = self._running()
        plugin = str(plugin)
        if not isinstance(values, Mapping):
            return _failure(f"settings must be an object, got {type(values).__name__}", "")
        merged = {**self.defaults(plugin), **values}
        problem = self.validate(plugin, merged)
        if problem is not None:
            return _failure(*problem)
        await collection.update_one(
            {"app_id": app_id, "user_id": user_id, "plugin": plugin},
            {
                "$set": {
                    "values": encode_json(dict(values)).decode(),
                    "updated_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
                }
            },
            upsert=True,
        )
        report = {"app_id": app_id, "user_id": user_id, "plugin": plugin}
        self._bus.publish(PLUGIN_SETTINGS_UPDATED, report, as_caller=False)
        self._bus.publish(SETTINGS_UPDATED, report, as_caller=False)
        return {"success": True, "settings": merged}

    def validate(self, plugin: str, values: Mapping[str, Any]) -> tuple[str, str] | None:
        """``(message, field)`` of the most relevant schema violation, or None."""
        schema = self.schema(plugin)
        if schema is None:
            return None
        validator_class = validator_for(schema)
        try:
            validator_class.check_schema(schema)
        except SchemaError as exc:
            raise SettingsSchemaError(
                f"plugin {plugin!r}: the 'settings' schema in manifest.json is invalid: "
                f"{exc.message}"
            ) from None
        error = best_match(validator_class(schema).iter_errors(dict(values)))
        return None if error is None else (error.message, _field(error))


class SettingsManager:
    """``core.settings_manager``: settings of users of the caller's app."""

    __slots__ = ()

    async def get_plugin_settings(self, user_id: str, plugin: str) -> dict[str, Any]:
        """The user's saved settings for ``plugin`` merged over the plugin's defaults."""
        app = settings_app(user_id, plugin, "get_plugin_settings")
        return await running.current().plugin_settings.get(app, user_id, plugin)

    async def save_plugin_settings(
        self, user_id: str, plugin: str, values: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Validate and store ``values`` as the user's settings for ``plugin``: ``{"success":
        True, "settings": merged}``, or ``{"success": False, "error": ..., "field": ...}``."""
        app = settings_app(user_id, plugin, "save_plugin_settings")
        return await running.current().plugin_settings.save(app, user_id, plugin, values)

    def __repr__(self) -> str:
        return "<core.settings_manager: plugin settings of the caller's app>"


def _field(error: ValidationError) -> str:
    """The dotted path of the failing value; for a missing property, its name."""
    path = [str(part) for part in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        path.extend(missing[:1])
    return ".".join(path)


def _failure(message: str, field: str) -> dict[str, Any]:
    return {"success": False, "error": message, "field": field}


settings_manager = SettingsManager()
