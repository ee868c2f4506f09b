"""The ``core.*`` modules a sandboxed plugin imports, made of proxies.

Installed in ``sys.modules`` before the plugin is imported, so ``from core.config.database
import db`` and the ``mozaiks_infra``/``mozaiks_platform`` names resolve to the proxies
and never to the server's services (which a worker does not have).
"""

from __future__ import annotations

import sys
import types
from typing import Any

from tessera.sandbox.remote_db import RemoteDatabase
from tessera.sandbox.remote_services import (
    RemoteService,
    RemoteUsers,
    event_bus,
    on_event,
    remote_functions,
)
from tessera.services.unprovided import refused


def modules() -> dict[str, dict[str, Any]]:
    """Each contract module's name and its public names."""
    db = RemoteDatabase()
    notifications = RemoteService("notifications_manager")
    settings = RemoteService("settings_manager")
    websockets = RemoteService("websocket_manager")
    entitlements = remote_functions("entitlements")
    database = {
        "db": db,
        "users_collection": RemoteUsers(),
        "settings_collection": refused("core.config.database.settings_collection"),
    }
    return {
        "core": {},
        "core.config": {},
        "core.config.database": database,
        "core.event_bus": {"event_bus": event_bus, "on_event": on_event},
        "core.notifications_manager": {"notifications_manager": notifications},
        "core.settings_manager": {"settings_manager": settings},
        "core.websocket_manager": {"websocket_manager": websockets},
        "core.entitlements": entitlements,
        "core.notifications": {
            "in_app_channel": RemoteService("in_app_channel"),
            "email_channel": refused("core.notifications.email_channel"),
            "broadcast_service": refused("core.notifications.broadcast_service"),
        },
        "mozaiks_infra": {},
        "mozaiks_infra.config": {},
        "mozaiks_infra.config.database": database,
        "mozaiks_infra.event_bus": {"event_bus": event_bus, "on_event": on_event},
        "mozaiks_infra.websocket_manager": {"websocket_manager": websockets},
        "mozaiks_platform": {},
        "mozaiks_platform.notifications_manager": {"notifications_manager": notifications},
        "mozaiks_platform.settings_manager": {"settings_manager": settings},
        "mozaiks_platform.entitlements": entitlements,
    }


def install() -> None:
    """Put the proxy modules in ``sys.modules``, packages with their submodules."""
    table = modules()
    for name, names in table.items():
        module = types.ModuleType(name, "The MozaiksCore contract, served by a Tessera server.")
        if any(other.startswith(name + ".") for other in table):
            module.__path__ = []
        module.__dict__.update(names)
        sys.modules[name] = module
    for name in table:
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, sys.modules[name])
