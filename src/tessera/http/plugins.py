"""``GET /api/plugins`` (alias ``/api/available-plugins``): what a signed-in user can call."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from tessera.http.caller import caller


async def list_plugins(request: Request) -> JSONResponse:
    """Every plugin with its public metadata; why a plugin failed only for superadmins."""
    identity = await caller(request)
    plugins = [plugin.public() for plugin in request.app.state.runtime.plugins]
    if not identity.is_superadmin:
        for info in plugins:
            info.pop("error", None)
    return JSONResponse({"plugins": plugins})
