"""Admin routes, for superadmins only: the plugin registry and its controls."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from tessera.auth.identity import Identity
from tessera.http.caller import caller
from tessera.http.errors import Forbidden, NotFound
from tessera.plugins.errors import PluginNotFound
from tessera.plugins.registry import Plugin

logger = logging.getLogger("tessera.admin")


def admin_routes() -> list[BaseRoute]:
    return [
        Route("/api/admin/plugins", list_plugins, methods=["GET"]),
        Route("/api/admin/plugins/{plugin}/enable", enable, methods=["POST"]),
        Route("/api/admin/plugins/{plugin}/disable", disable, methods=["POST"]),
        Route("/api/admin/plugins/{plugin}/reload", reload, methods=["POST"]),
    ]


async def superadmin(request: Request) -> Identity:
    identity = await caller(request)
    if not identity.is_superadmin:
        raise Forbidden("Admin routes are for superadmins.", error_code="superadmin_required")
    return identity


def describe(plugin: Plugin) -> dict[str, Any]:
    """Everything an operator wants to know about one plugin."""
    return {
        **plugin.public(),
        "folder": str(plugin.folder),
        "generation": plugin.generation,
        "timeout": plugin.manifest.timeout,
        "roles": list(plugin.manifest.roles),
        "needs_user_jwt": plugin.manifest.needs_user_jwt,
        "actions": sorted(plugin.manifest.actions),
    }


def _plugin(request: Request) -> Plugin:
    name = request.path_params["plugin"]
    plugin = request.app.state.runtime.plugins.get(name)
    if plugin is None:
        raise NotFound(f"Plugin {name!r} not found.", error_code="plugin_not_found")
    return plugin


async def list_plugins(request: Request) -> JSONResponse:
    await superadmin(request)
    return JSONResponse({"plugins": [describe(p) for p in request.app.state.runtime.plugins]})


async def _set_enabled(request: Request, enabled: bool) -> JSONResponse:
    identity = await superadmin(request)
    plugin = _plugin(request)
    await request.app.state.runtime.set_plugin_enabled(plugin.name, enabled, identity.user_id)
    logger.info(
        "%s %s plugin %s", identity.user_id, "enabled" if enabled else "disabled", plugin.name
    )
    return JSONResponse(describe(plugin))


async def enable(request: Request) -> JSONResponse:
    return await _set_enabled(request, True)


async def disable(request: Request) -> JSONResponse:
    return await _set_enabled(request, False)


async def reload(request: Request) -> JSONResponse:
    identity = await superadmin(request)
    name = request.path_params["plugin"]
    try:
        plugin = await request.app.state.runtime.reload_plugin(name)
    except PluginNotFound:
        plugin = None
    if plugin is None:
        raise NotFound(f"Plugin {name!r} not found.", error_code="plugin_not_found")
    logger.info("%s reloaded plugin %s", identity.user_id, name)
    return JSONResponse(describe(plugin))
