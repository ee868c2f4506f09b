"""An event as bytes, to cross from the process that published it to the one handling it:
its payload and its publisher's call (who called, which request), in BSON."""

from __future__ import annotations

import contextvars
from typing import Any

import bson

from tessera.auth.identity import Identity
from tessera.context import CallContext, current_call, current_request_id
from tessera.services.events.base import Event


def encode(event: Event) -> bytes:
    """The payload of ``event`` and its publisher's call; TypeError naming the event when
    the payload cannot cross processes."""
    call = event.context.get(current_call)
    caller: dict[str, Any] | None = None
    if call is not None:
        identity = call.identity
        caller = {
            "user_id": identity.user_id,
            "username": identity.username,
            "app_id": identity.app_id,
            "roles": list(identity.roles),
            "is_superadmin": identity.is_superadmin,
            "entitlements": dict(identity.entitlements),
            "plugin": call.plugin,
            "request_id": call.request_id,
            "action": call.action,
        }
    try:
        return bson.encode({"payload": event.payload, "call": caller})
    except (bson.errors.InvalidDocument, TypeError, OverflowError) as exc:
        raise TypeError(
            f"the payload of event {event.name!r} cannot cross processes ({exc}); publish "
            "JSON-like data (dicts, lists, strings, numbers, ObjectId, datetime)"
        ) from None


def decode(name: str, data: bytes) -> Event:
    """The event ``encode`` made, in a context carrying its publisher's call."""
    fields = bson.decode(data)
    context = contextvars.Context()
    caller = fields.get("call")
    if caller is not None:
        identity = Identity(
            caller["user_id"],
            caller["username"],
            caller["app_id"],
            tuple(caller["roles"]),
            caller["is_superadmin"],
            caller["entitlements"],
        )
        call = CallContext(identity, caller["plugin"], caller["request_id"], caller["action"])
        context.run(current_call.set, call)
        context.run(current_request_id.set, call.request_id)
    return Event(name, fields.get("payload"), context)
