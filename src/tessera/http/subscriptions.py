"""The reference's subscription routes, in its shapes, and their admin counterparts.

``GET /api/subscription-plans``, ``GET /api/user-subscription``,
``POST /api/update-subscription`` ``{new_plan}``, ``POST /api/cancel-subscription`` (403
unless ``--plans-self-service``: billing stays outside Tessera) and
``GET /api/check-plugin-access/{plugin}``. Superadmins set any user's plan with
``GET|POST /api/admin/subscriptions/{user_id}``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from tessera.entitlements.errors import EntitlementsUnavailable
from tessera.entitlements.gate import Gate
from tessera.entitlements.plans import MAX_TRIAL_DAYS
from tessera.http.admin import superadmin
from tessera.http.body import read_json_object
from tessera.http.caller import caller
from tessera.http.entitlements import unavailable
from tessera.http.errors import BadRequest, Forbidden, NotFound

# A plan change is a small object.
MAX_BODY = 4096


def subscription_routes() -> list[BaseRoute]:
    return [
        Route("/api/subscription-plans", plans, methods=["GET"]),
        Route("/api/user-subscription", user_subscription, methods=["GET"]),
        Route("/api/update-subscription", update_subscription, methods=["POST"]),
        Route("/api/cancel-subscription", cancel_subscription, methods=["POST"]),
        Route("/api/check-plugin-access/{plugin}", check_plugin_access, methods=["GET"]),
        Route("/api/admin/subscriptions/{user_id}", admin_subscription, methods=["GET", "POST"]),
    ]


def _gate(request: Request) -> Gate:
    gate: Gate | None = request.app.state.runtime.entitlements
    if gate is None:
        raise NotFound(
            "Plans are not configured on this server (tessera serve --plans FILE).",
            error_code="plans_not_configured",
        )
    return gate


# What a 503 says when the store cannot answer for subscriptions.
_UNREADABLE = "Subscriptions cannot be read or changed"


async def plans(request: Request) -> JSONResponse:
    await caller(request)
    return JSONResponse(_gate(request).plans.document)


async def _standing(gate: Gate, app_id: str, user_id: str) -> dict[str, Any]:
    now = gate.clock()
    try:
        current = await gate.subscriptions.current(app_id, user_id, now)
    except EntitlementsUnavailable as exc:
        raise unavailable(exc, _UNREADABLE) from None
    return current.public(user_id, now)


async def user_subscription(request: Request) -> JSONResponse:
    identity = await caller(request)
    gate = _gate(request)
    answer = await _standing(gate, identity.app_id, identity.user_id)
    if identity.plan is not None:
        # The token decides: what it names is the plan every call is checked against.
        answer.update(plan=identity.plan, status="active", is_trial=False, trial_info=None)
    return JSONResponse(answer)


def _self_service(request: Request) -> None:
    if not request.app.state.runtime.settings.plans_self_service:
        raise Forbidden(
            "Plans are changed by the app's billing, not by users here.",
            error_code="plan_changes_not_allowed",
        )


async def update_subscription(request: Request) -> JSONResponse:
    identity = await caller(request)
    gate = _gate(request)
    _self_service(request)
    body = await read_json_object(request, MAX_BODY)
    new_plan = body.get("new_plan")
    if not isinstance(new_plan, str) or not new_plan:
        raise BadRequest('New plan is required: {"new_plan": NAME}.', error_code="bad_request")
    try:
        await gate.subscriptions.set_plan(
            identity.app_id, identity.user_id, new_plan, gate.clock(), by=identity.user_id
        )
    except ValueError as exc:
        raise BadRequest(str(exc), error_code="unknown_plan") from None
    except EntitlementsUnavailable as exc:
        raise unavailable(exc, _UNREADABLE) from None
    return JSONResponse({"message": "Subscription updated successfully", "new_plan": new_plan})


async def cancel_subscription(request: Request) -> JSONResponse:
    identity = await caller(request)
    gate = _gate(request)
    _self_service(request)
    try:
        await gate.subscriptions.cancel(
            identity.app_id, identity.user_id, gate.clock(), by=identity.user_id
        )
    except EntitlementsUnavailable as exc:
        raise unavailable(exc, _UNREADABLE) from None
    return JSONResponse({"message": "Subscription canceled successfully"})


async def check_plugin_access(request: Request) -> JSONResponse:
    identity = await caller(request)
    name = request.path_params["plugin"]
    gate: Gate | None = request.app.state.runtime.entitlements
    if gate is None:
        return JSONResponse({"plugin": name, "access": True})
    try:
        plan = await gate.plan_of(identity)
    except EntitlementsUnavailable as exc:
        raise unavailable(exc, _UNREADABLE) from None
    return JSONResponse({"plugin": name, "access": gate.plans.unlocks(plan, name)})


async def admin_subscription(request: Request) -> JSONResponse:
    """A user's subscription (GET), or a new plan for them (POST ``{plan, trial_days?,
    app_id?}``; ``trial_days`` true means the plans file's trial length)."""
    admin = await superadmin(request)
    gate = _gate(request)
    user_id = request.path_params["user_id"]
    app_id = request.query_params.get("app_id") or admin.app_id
    if request.method == "POST":
        body = await read_json_object(request, MAX_BODY)
        plan, days = body.get("plan"), body.get("trial_days")
        if days is True:
            days = gate.plans.trial_days
        if not isinstance(plan, str) or not (days is None or _whole(days)):
            raise BadRequest(
                'Send {"plan": NAME} and optionally "trial_days": a whole number from 0 to '
                f"{MAX_TRIAL_DAYS}.",
                error_code="bad_request",
            )
        try:
            await gate.subscriptions.set_plan(
                app_id, user_id, plan, gate.clock(), by=admin.user_id, trial_days=days
            )
        except ValueError as exc:
            raise BadRequest(str(exc), error_code="unknown_plan") from None
        except EntitlementsUnavailable as exc:
            raise unavailable(exc, _UNREADABLE) from None
    return JSONResponse(await _standing(gate, app_id, user_id))


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TRIAL_DAYS
