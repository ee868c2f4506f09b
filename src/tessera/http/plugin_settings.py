"""``GET|POST /api/plugin-settings/{plugin}``: the caller's settings for one plugin.

As in the reference, request and answer bodies are the settings object itself.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tessera.auth.identity import Identity
from tessera.encoding import encode_json
from tessera.http.body import read_json_object
from tessera.http.caller import caller
from tessera.http.errors import InternalError, NotFound, Unprocessable
from tessera.services.plugin_settings import SettingsSchemaError

logger = logging.getLogger("tessera.settings")


def plugin_settings_routes() -> list[BaseRoute]:
    """The routes under ``/api/plugin-settings``."""
    return [
        Route("/api/plugin-settings/{plugin}", get_settings, methods=["GET"]),
        Route("/api/plugin-settings/{plugin}", save_settings, methods=["POST"]),
    ]


async def _known_plugin(request: Request) -> tuple[Identity, str]:
    identity = await caller(request)
    name = request.path_params["plugin"]
    if request.app.state.runtime.plugins.get(name) is None:
        raise NotFound(f"Plugin {name!r} not found.", error_code="plugin_not_found")
    return identity, name


async def get_settings(request: Request) -> Response:
    """The caller's settings for the plugin, over the plugin's defaults."""
    identity, name = await _known_plugin(request)
    service = request.app.state.runtime.services.plugin_settings
    values = await service.get(identity.app_id, identity.user_id, name)
    return Response(encode_json(values), media_type="application/json")


async def save_settings(request: Request) -> Response:
    """Validate and save the body as the caller's settings; answer the merged settings."""
    identity, name = await _known_plugin(request)
    body = await read_json_object(request, request.app.state.runtime.settings.max_body_bytes)
    service = request.app.state.runtime.services.plugin_settings
    try:
        result = await service.save(identity.app_id, identity.user_id, name, body)
    except SettingsSchemaError as exc:
        logger.error("%s", exc)
        raise InternalError(
            f"Plugin {name!r} declares an invalid settings schema; the server log has details.",
            error_code="invalid_settings_schema",
        ) from None
    if not result["success"]:
        raise Unprocessable(
            f"Invalid settings for plugin {name!r}: {result['error']}",
            extra={"field": result["field"]},
        )
    return Response(encode_json(result["settings"]), media_type="application/json")
