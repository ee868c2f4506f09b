"""The plugin settings service: defaults, validation, storage, event."""

from __future__ import annotations

import asyncio
import json

import pytest

from tessera.plugins.registry import PluginRegistry
from tessera.services.event_bus import EventBus
from tessera.services.plugin_settings import SettingsSchemaError, SettingsService

SCHEMA = {
    "type": "object",
    "properties": {
        "theme": {"type": "string", "default": "dark"},
        "limits": {
            "type": "object",
            "properties": {"max": {"type": "integer", "minimum": 1}},
            "default": {"max": 10},
        },
        "email": {"type": "string"},
    },
    "required": ["email"],
}


def write_plugin(folder, name, manifest):
    (folder / name).mkdir(parents=True)
    (folder / name / "logic.py").write_text("async def execute(data):\n    return {}\n")
    if manifest is not None:
        (folder / name / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
async def manager(system, tmp_path, bus):
    write_plugin(tmp_path, "styled", {"settings": SCHEMA})
    write_plugin(tmp_path, "broken", {"settings": {"type": "no-such-type"}})
    write_plugin(tmp_path, "plain", None)
    registry = PluginRegistry(tmp_path)
    registry.load_all()
    manager = SettingsService(bus)
    await manager.start(system, registry)
    yield manager
    for name in ("styled", "broken", "plain"):
        registry.unload(name)


async def test_defaults_then_saved_values_over_them(manager):
    assert await manager.get("default", "alice", "styled") == {
        "theme": "dark",
        "limits": {"max": 10},
    }
    result = await manager.save("default", "alice", "styled", {"email": "a@example.org"})
    assert result == {
        "success": True,
        "settings": {"theme": "dark", "limits": {"max": 10}, "email": "a@example.org"},
    }
    assert (await manager.get("default", "alice", "styled"))["email"] == "a@example.org"
    assert "email" not in await manager.get("default", "bob", "styled")


@pytest.mark.parametrize(
    "values, field",
    [
        ({}, "email"),
        ({"email": 3}, "email"),
        ({"email": "e", "limits": {"max": 0}}, "limits.max"),
    ],
)
async def test_invalid_values_name_the_failing_field_and_are_not_stored(manager, values, field):
    result = await manager.save("default", "alice", "styled", values)
    assert result["success"] is False
    assert result["field"] == field
    assert result["error"]
    assert "email" not in await manager.get("default", "alice", "styled")


async def test_an_invalid_schema_is_reported_as_the_plugins_fault(manager):
    with pytest.raises(SettingsSchemaError, match="broken"):
        await manager.save("default", "alice", "broken", {})


@pytest.mark.parametrize("event", ["plugin_settings_updated", "settings_updated"])
async def test_saving_publishes_both_settings_events(manager, bus, event):
    """``settings_updated`` is the name the reference's settings manager published."""
    seen = []
    bus.start()
    bus.subscribe(event, seen.append)
    try:
        await manager.save("default", "alice", "plain", {"x": 1})
        await manager.save("default", "alice", "styled", {})  # invalid: nothing saved
        await asyncio.sleep(0.05)
    finally:
        bus.unsubscribe(event, seen.append)
        await bus.stop()
    assert seen == [{"app_id": "default", "user_id": "alice", "plugin": "plain"}]


async def test_a_non_object_is_refused(manager):
    assert (await manager.save("default", "alice", "plain", [1]))["success"] is False
