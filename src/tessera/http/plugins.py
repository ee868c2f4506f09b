"""``GET /api/plugins`` (alias ``/api/available-plugins``): what a signed-in user can call."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from tessera.http.caller import caller


async def list_plugins(request: Request) -> JSONResponse:
    await caller(request)
    plugins = request.app.state.runtime.plugins
    return JSONResponse({"plugins": [plugin.public() for plugin in plugins]})
