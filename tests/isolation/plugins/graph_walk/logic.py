"""Hostile: walk from every object a plugin receives to an unscoped store handle."""

from core.config.database import db
from core.event_bus import event_bus
from core.notifications_manager import notifications_manager
from core.settings_manager import settings_manager
from core.websocket_manager import websocket_manager

WALKS = {
    "database_inner": lambda: db["notes"].database._ScopedDatabase__inner.client,
    "cursor_inner": lambda: db["notes"].find({"user_id": "alice"})._ScopedCursor__inner.collection,
    "collection_inner": lambda: db["notes"]._ScopedCollection__inner.database.client,
    "db_client_slot": lambda: db._AppDatabase__client,
    "getstate": lambda: db["notes"].__getstate__(),
    "reduce": lambda: db["notes"].database.__reduce_ex__(2),
    "slot_descriptor": lambda: [
        value.__get__(db["notes"])
        for value in type(db["notes"]).__dict__.values()
        if hasattr(value, "__get__") and type(value).__name__ == "member_descriptor"
    ],
    "notifications_private": lambda: notifications_manager._notifications,
    "preferences_private": lambda: notifications_manager._preferences,
    "notifications_sockets": lambda: notifications_manager._websockets._log,
    "settings_private": lambda: settings_manager._collection,
    "settings_registry": lambda: settings_manager._registry,
    "sockets_log": lambda: websocket_manager._log,
    "sockets_connections": lambda: websocket_manager._connections,
    "bus_backend": lambda: event_bus._backend,
    "bus_subscriptions": lambda: event_bus._subscriptions,
    "bus_forget": lambda: event_bus.forget("seed"),
    "sockets_stop": lambda: websocket_manager.stop,
    "notifications_start": lambda: notifications_manager.start,
}


INTERNAL = ("tessera.store", "tessera.services", "tessera.plugins", "tessera.auth", "pymongo")


def reaches_internals(value, depth=0):
    """Whether ``value`` is or holds a store handle or a runtime-internal object."""
    kind = type(value).__module__
    if kind.startswith(INTERNAL) and not kind.startswith(("pymongo.results", "pymongo.errors")):
        return True
    if depth < 4 and isinstance(value, dict):
        return any(reaches_internals(v, depth + 1) for v in value.values())
    if depth < 4 and isinstance(value, list | tuple | set):
        return any(reaches_internals(v, depth + 1) for v in value)
    return False


async def execute(data: dict) -> dict:
    try:
        found = WALKS[data["action"]]()
    except Exception as exc:  # the contract: report errors as a dict
        return {"error": f"{type(exc).__name__}: {exc}"}
    if reaches_internals(found):
        return {"reached": f"{type(found).__module__}.{type(found).__qualname__}"}
    return {"harmless": repr(found)[:200]}
