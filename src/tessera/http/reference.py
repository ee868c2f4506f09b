"""The platform routes the reference front end calls, in the reference's shapes.

The reference shell's sign-in, notification, profile and settings modules call these
before anything else; without them it deletes its token or stops. Each route reads or
changes only the caller's own data. The reference's AI runtime routes (workflows, chats)
belong to another system and are not served (docs/http.md).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tessera.auth.identity import Identity
from tessera.encoding import encode_json
from tessera.http.body import read_json_object
from tessera.http.caller import caller
from tessera.http.errors import BadRequest, Unprocessable
from tessera.services.notification_types import categories, declared_types
from tessera.services.profiles import EDITABLE, ProfileError


def reference_routes() -> list[BaseRoute]:
    """The reference shell's platform routes."""
    return [
        Route("/api/auth/validate-token", validate_token, methods=["GET"]),
        Route("/api/app-config", app_config, methods=["GET"]),
        Route("/api/settings-config", settings_config, methods=["GET"]),
        Route("/api/user-profile", user_profile, methods=["GET"]),
        Route("/api/update-profile", update_profile, methods=["POST"]),
        Route("/api/notifications/config", notification_config, methods=["GET"]),
    ]


async def validate_token(request: Request) -> JSONResponse:
    """``{valid, user_id, username}`` for a token that verifies; 401 otherwise (the shell
    then signs the user out)."""
    identity = await caller(request)
    return JSONResponse({"valid": True, "user_id": identity.user_id, "username": identity.username})


async def app_config(request: Request) -> JSONResponse:
    """What the shell shows before sign-in: public, and only what the operator configured."""
    settings = request.app.state.runtime.settings
    return JSONResponse(
        {
            "app_name": settings.app_name,
            "app_version": settings.app_version,
            "env": settings.app_env,
            # Plans are not enforced by this version: nothing is behind a subscription.
            "monetization_enabled": False,
        }
    )


async def settings_config(request: Request) -> JSONResponse:
    """``{profile_sections}``: the profile form, with a switch per declared notification."""
    await caller(request)
    types = declared_types(request.app.state.runtime.plugins)
    personal = [_field(f.name, f.label, f.kind) for f in EDITABLE if f.name != "theme"]
    personal.insert(1, _field("email", "Email Address", "email", editable=False))
    toggles = [
        {
            **_field(t["id"], t["label"], "toggle"),
            "plugin": t["plugin"],
            "category": t["category"],
            "description": t["description"],
            "channels": t["channels"],
            "default_enabled": True,
        }
        for t in types
    ]
    sections = [
        _section("personal", "Personal Information", "user", 1, personal),
        {
            **_section("notifications", "Notifications", "bell", 2, []),
            "plugin_notification_fields": toggles,
        },
        _section(
            "appearance", "Appearance", "palette", 3, [_field("theme", "Theme", "theme-selector")]
        ),
    ]
    return JSONResponse({"profile_sections": sections})


async def user_profile(request: Request) -> Response:
    """The caller's identity, editable profile fields and ``plugin_settings`` per plugin."""
    identity = await caller(request)
    return Response(encode_json(await _profile(request, identity)), media_type="application/json")


async def update_profile(request: Request) -> Response:
    """Change the caller's editable fields; any other field refuses the whole change."""
    identity = await caller(request)
    body = await read_json_object(request, request.app.state.runtime.settings.max_body_bytes)
    try:
        await request.app.state.runtime.services.profiles.update(
            identity.app_id, identity.user_id, body
        )
    except ProfileError as exc:
        if exc.code == "not_editable":
            raise BadRequest(
                exc.message, error_code="field_not_editable", extra={"field": exc.field}
            ) from None
        if not exc.field:
            raise BadRequest(exc.message) from None
        raise Unprocessable(exc.message, extra={"field": exc.field}) from None
    answer = {"message": "Profile updated.", "profile": await _profile(request, identity)}
    return Response(encode_json(answer), media_type="application/json")


async def notification_config(request: Request) -> JSONResponse:
    """``{config: {categories, notifications}, preferences}``: the types plugins declare
    and, for each, whether the caller receives it (plus any other type they chose for)."""
    identity = await caller(request)
    types = declared_types(request.app.state.runtime.plugins)
    notifications = request.app.state.runtime.services.notifications
    chosen = await notifications.preferences(identity.app_id, identity.user_id)
    preferences = {t["id"]: {"enabled": True} for t in types}
    preferences.update(chosen)
    return JSONResponse(
        {
            "config": {"categories": categories(types), "notifications": types},
            "preferences": preferences,
        }
    )


async def _profile(request: Request, identity: Identity) -> dict[str, Any]:
    runtime = request.app.state.runtime
    services = runtime.services
    accounts = runtime.auth.accounts if runtime.auth is not None else None
    account = await accounts.get(identity.user_id) if accounts is not None else None
    saved = await services.profiles.get(identity.app_id, identity.user_id)
    settings: dict[str, Any] = {}
    for plugin in sorted(runtime.plugins, key=lambda p: p.name):
        if plugin.code is not None and plugin.enabled:
            settings[plugin.name] = await services.plugin_settings.get(
                identity.app_id, identity.user_id, plugin.name
            )
    return {
        "user_id": identity.user_id,
        "username": identity.username,
        "app_id": identity.app_id,
        "email": account.get("email") if account else None,
        "roles": list(identity.roles),
        "is_superadmin": identity.is_superadmin,
        **saved,
        "plugin_settings": settings,
    }


def _field(name: str, label: str, kind: str, *, editable: bool = True) -> dict[str, Any]:
    return {"id": name, "label": label, "type": kind, "required": False, "editable": editable}


def _section(
    name: str, title: str, icon: str, order: int, fields: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": name,
        "title": title,
        "icon": icon,
        "order": order,
        "visible": True,
        "editable": True,
        "fields": fields,
    }
