"""The notification routes (SPEC section 2): each reads or changes only the caller's own."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from tessera.http.body import read_json_object
from tessera.http.caller import caller
from tessera.http.errors import BadRequest, NotFound, Unprocessable
from tessera.services.notifications import MAX_OFFSET, MAX_PAGE, NotificationService


def _notifications(request: Request) -> NotificationService:
    service: NotificationService = request.app.state.runtime.services.notifications
    return service


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def notification_routes() -> list[BaseRoute]:
    """The routes under ``/api/notifications``."""
    return [
        Route("/api/notifications", list_notifications, methods=["GET"]),
        Route("/api/notifications/count", count_unread, methods=["GET"]),
        Route("/api/notifications/mark-all-read", mark_all_read, methods=["POST"]),
        Route("/api/notifications/preferences", get_preferences, methods=["GET"]),
        Route("/api/notifications/preferences", set_preferences, methods=["POST"]),
        Route("/api/notifications/{id}/read", mark_read, methods=["POST"]),
        Route("/api/notifications/{id}/unread", mark_unread, methods=["POST"]),
        Route("/api/notifications/{id}", delete_notification, methods=["DELETE"]),
    ]


async def list_notifications(request: Request) -> JSONResponse:
    """``{notifications, count, unread_count}``, newest first (``unread_only``, ``limit``,
    ``offset``)."""
    identity = await caller(request)
    params = request.query_params
    page = await _notifications(request).page(
        identity.app_id,
        identity.user_id,
        unread_only=_flag(params.get("unread_only", ""), "unread_only"),
        limit=_integer(params.get("limit"), "limit", 50, MAX_PAGE),
        offset=_integer(params.get("offset"), "offset", 0, MAX_OFFSET),
    )
    return JSONResponse(page)


async def count_unread(request: Request) -> JSONResponse:
    identity = await caller(request)
    unread = await _notifications(request).unread_count(identity.app_id, identity.user_id)
    return JSONResponse({"count": unread, "unread_count": unread})


async def mark_all_read(request: Request) -> JSONResponse:
    identity = await caller(request)
    changed = await _notifications(request).mark_all_read(identity.app_id, identity.user_id)
    return JSONResponse({"success": True, "updated": changed})


async def mark_read(request: Request) -> JSONResponse:
    return await _mark(request, read=True)


async def mark_unread(request: Request) -> JSONResponse:
    return await _mark(request, read=False)


async def _mark(request: Request, *, read: bool) -> JSONResponse:
    identity = await caller(request)
    notification_id = request.path_params["id"]
    found = await _notifications(request).mark_read(
        identity.app_id, identity.user_id, notification_id, read
    )
    if not found:
        raise _not_found(notification_id)
    return JSONResponse({"success": True, "id": notification_id, "read": read})


async def delete_notification(request: Request) -> JSONResponse:
    identity = await caller(request)
    notification_id = request.path_params["id"]
    deleted = await _notifications(request).delete(
        identity.app_id, identity.user_id, notification_id
    )
    if not deleted:
        raise _not_found(notification_id)
    return JSONResponse({"success": True, "id": notification_id})


async def get_preferences(request: Request) -> JSONResponse:
    """``{type: {"enabled": bool}}`` for each type the caller has chosen for."""
    identity = await caller(request)
    chosen = await _notifications(request).preferences(identity.app_id, identity.user_id)
    return JSONResponse(chosen)


async def set_preferences(request: Request) -> JSONResponse:
    """Record the types named in the body, bare or under ``"preferences"`` as the reference
    shell sends it; the others keep their current choice. Answers ``{preferences: all}``."""
    identity = await caller(request)
    body = await read_json_object(request, request.app.state.runtime.settings.max_body_bytes)
    choices = _unwrapped(body)
    try:
        chosen = await _notifications(request).set_preferences(
            identity.app_id, identity.user_id, choices
        )
    except ValueError as exc:
        field = str(exc).partition(":")[0]
        raise Unprocessable(str(exc), extra={"field": field}) from None
    return JSONResponse({"preferences": chosen})


def _unwrapped(body: dict[str, Any]) -> dict[str, Any]:
    """The choices of a body that is ``{"preferences": {type: {...}}}``, else the body: a
    type named "preferences" is told apart by its ``enabled`` key."""
    inner = body.get("preferences")
    if len(body) == 1 and isinstance(inner, dict) and "enabled" not in inner:
        return inner
    return body


def _not_found(notification_id: str) -> NotFound:
    return NotFound(
        f"You have no notification with id {notification_id!r}.",
        error_code="notification_not_found",
    )


def _flag(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise BadRequest(f"Query parameter {name!r} must be true or false, not {value!r}.")


def _integer(value: str | None, name: str, default: int, most: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"Query parameter {name!r} must be an integer, not {value!r}.") from None
    if not 0 <= number <= most:
        raise BadRequest(f"Query parameter {name!r} must be between 0 and {most}, not {number}.")
    return number
