"""``GET /api/plugins`` (alias ``/api/available-plugins``): what a signed-in user can call."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from tessera.entitlements.errors import EntitlementsUnavailable
from tessera.http.caller import caller
from tessera.http.entitlements import unavailable


async def list_plugins(request: Request) -> JSONResponse:
    """Every plugin with its public metadata; why a plugin failed only for superadmins.
    With plans configured, each says whether the caller's plan unlocks it (``unlocked``)
    and which plans do (``plans``)."""
    identity = await caller(request)
    runtime = request.app.state.runtime
    plugins = [plugin.public() for plugin in runtime.plugins]
    if not identity.is_superadmin:
        for info in plugins:
            info.pop("error", None)
    gate = runtime.entitlements
    if gate is not None:
        try:
            plan = await gate.plan_of(identity)
        except EntitlementsUnavailable as exc:
            raise unavailable(exc, "Plans cannot be checked") from None
        for info in plugins:
            info["unlocked"] = gate.plans.unlocks(plan, info["name"])
            info["plans"] = gate.plans.unlocking(info["name"])
    return JSONResponse({"plugins": plugins})
