"""Notifications: each user's, stored one document each, and ``core.notifications_manager``.

Notifications live in the ``notifications`` collection of the system database, each
carrying its app and user, so they are never capped and ``create_notification`` returns
the id of a document that exists. A new notification is pushed to the user's WebSockets
as ``{"type": "notification", "subtype": "new", "data": {...}}`` unless the user muted its
type (it is still stored and listed).

:class:`NotificationService` is the runtime's: every method names the app and the user.
:class:`NotificationsManager` is what plugins import: it names no app (always the
caller's), and a user other than the caller needs the escalation right.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING

from tessera.services import running
from tessera.services.event_bus import EventBus
from tessera.services.recipients import recipient_app
from tessera.services.websocket import WebSocketHub

logger = logging.getLogger("tessera.notifications")

NOTIFICATION_CREATED = "notification_created"
NEWEST_FIRST = [("created_at", DESCENDING), ("_id", DESCENDING)]
MAX_PAGE = 500
# The largest skip a store takes: MongoDB's and SQLite's are signed 64-bit integers.
MAX_OFFSET = 2**63 - 1


# What one user's choices may hold: more types than any app declares, bounded all the same.
MAX_TYPES = 200
MAX_TYPE_LENGTH = 100


class NotificationService:
    """Create, list, count, mark and delete notifications, and keep muted types."""

    def __init__(self, hub: WebSocketHub, bus: EventBus) -> None:
        self._hub = hub
        self._bus = bus
        self._notifications: Any = None
        self._preferences: Any = None

    async def start(self, database: Any) -> None:
        """Use ``database`` (the system database) and create the indexes listing needs."""
        self._notifications = database["notifications"]
        self._preferences = database["notification_preferences"]
        user = [("app_id", ASCENDING), ("user_id", ASCENDING)]
        await self._notifications.create_index([*user, *NEWEST_FIRST])
        await self._notifications.create_index([*user, ("read", ASCENDING), *NEWEST_FIRST])
        await self._preferences.create_index([*user, ("type", ASCENDING)], unique=True)

    def stop(self) -> None:
        self._notifications = self._preferences = None

    def _collections(self) -> tuple[Any, Any]:
        if self._notifications is None:
            raise RuntimeError(
                "core.notifications_manager was used outside a running Tessera runtime; "
                "run the plugin with `tessera serve` or tessera.testing"
            )
        return self._notifications, self._preferences

    async def create(
        self,
        app_id: str,
        user_id: str,
        notification_type: str,
        title: str,
        message: str,
        metadata: Mapping[str, Any] | None = None,
        channels: Sequence[str] | None = None,
    ) -> str:
        """Store a notification, push it unless its type is muted, publish
        ``notification_created``; return the new id."""
        notifications, _ = self._collections()
        kind = str(notification_type)
        document: dict[str, Any] = {
            "app_id": app_id,
            "user_id": user_id,
            "type": kind,
            "title": str(title),
            "message": str(message),
            "metadata": dict(metadata or {}),
            "channels": list(channels) if channels is not None else ["in_app"],
            "read": False,
            "created_at": _now(),
        }
        result = await notifications.insert_one(document)
        document["_id"] = result.inserted_id
        public = present(document)
        if await self.type_enabled(app_id, user_id, kind):
            push = {"type": "notification", "subtype": "new", "data": public}
            await self._hub.send_in_app(app_id, user_id, push)
        report = {
            "app_id": app_id,
            "user_id": user_id,
            "notification_id": public["id"],
            "notification_type": kind,
        }
        self._bus.publish(NOTIFICATION_CREATED, report, as_caller=False)
        return public["id"]

    async def page(
        self,
        app_id: str,
        user_id: str,
        *,
        unread_only: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        """``{notifications, count, unread_count}``: a page, newest first; ``count`` is how
        many match in all."""
        notifications, _ = self._collections()
        scope = {"app_id": app_id, "user_id": user_id}
        query = {**scope, "read": False} if unread_only else scope
        limit = max(0, min(limit, MAX_PAGE))
        skip = min(max(0, offset), MAX_OFFSET)
        cursor = notifications.find(query).sort(NEWEST_FIRST).skip(skip)
        documents = await cursor.limit(limit).to_list(None) if limit else []
        return {
            "notifications": [present(d) for d in documents],
            "count": await notifications.count_documents(query),
            "unread_count": await notifications.count_documents({**scope, "read": False}),
        }

    async def unread_count(self, app_id: str, user_id: str) -> int:
        notifications, _ = self._collections()
        scope = {"app_id": app_id, "user_id": user_id, "read": False}
        return int(await notifications.count_documents(scope))

    async def mark_read(
        self, app_id: str, user_id: str, notification_id: str, read: bool = True
    ) -> bool:
        """Mark one of the user's notifications read (or unread); False when the user has
        no notification with that id."""
        notifications, _ = self._collections()
        oid = _object_id(notification_id)
        if oid is None:
            return False
        scope = {"_id": oid, "app_id": app_id, "user_id": user_id}
        result = await notifications.update_one(scope, {"$set": {"read": bool(read)}})
        return bool(result.matched_count)

    async def mark_all_read(self, app_id: str, user_id: str) -> int:
        """Mark every unread notification of the user read; return how many changed."""
        notifications, _ = self._collections()
        scope = {"app_id": app_id, "user_id": user_id, "read": False}
        result = await notifications.update_many(scope, {"$set": {"read": True}})
        return int(result.modified_count)

    async def delete(self, app_id: str, user_id: str, notification_id: str) -> bool:
        """Delete one of the user's notifications; False when there is none with that id."""
        notifications, _ = self._collections()
        oid = _object_id(notification_id)
        if oid is None:
            return False
        result = await notifications.delete_one({"_id": oid, "app_id": app_id, "user_id": user_id})
        return bool(result.deleted_count)

    async def preferences(self, app_id: str, user_id: str) -> dict[str, dict[str, bool]]:
        """``{type: {"enabled": bool}}`` for every type the user has chosen for."""
        _, preferences = self._collections()
        chosen = await preferences.find({"app_id": app_id, "user_id": user_id}).to_list(None)
        return {p["type"]: {"enabled": bool(p["enabled"])} for p in chosen}

    async def set_preferences(
        self, app_id: str, user_id: str, choices: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, dict[str, bool]]:
        """Record ``{type: {"enabled": bool}}`` choices (other types keep theirs); return
        all of the user's choices. ValueError names a malformed entry."""
        _, preferences = self._collections()
        if not isinstance(choices, Mapping):
            raise ValueError(f'expected {{"type": {{"enabled": bool}}}}, got {choices!r}')
        for kind, choice in choices.items():
            if not isinstance(kind, str) or not 0 < len(kind) <= MAX_TYPE_LENGTH:
                raise ValueError(f"{str(kind)[:40]}: a type is 1 to {MAX_TYPE_LENGTH} characters")
            if not isinstance(choice, Mapping) or not isinstance(choice.get("enabled"), bool):
                raise ValueError(f'{kind}: expected {{"enabled": true or false}}, got {choice!r}')
        known = await self.preferences(app_id, user_id)
        if len(known.keys() | choices.keys()) > MAX_TYPES:
            raise ValueError(f"preferences: a user chooses for at most {MAX_TYPES} types")
        for kind, choice in choices.items():
            await preferences.update_one(
                {"app_id": app_id, "user_id": user_id, "type": str(kind)},
                {"$set": {"enabled": choice["enabled"]}},
                upsert=True,
            )
        return await self.preferences(app_id, user_id)

    async def type_enabled(self, app_id: str, user_id: str, kind: str) -> bool:
        """Whether notifications of ``kind`` are pushed to the user (the default is yes)."""
        _, preferences = self._collections()
        scope = {"app_id": app_id, "user_id": user_id, "type": kind}
        choice = await preferences.find_one(scope)
        return choice is None or bool(choice["enabled"])


class NotificationsManager:
    """``core.notifications_manager``: notifications in the caller's app.

    Each method names a user: the caller, or another user when the caller holds the
    escalation right (superadmin, or a role in the manifest's ``escalation_roles``).
    """

    __slots__ = ()

    async def create_notification(
        self,
        user_id: str,
        notification_type: str,
        title: str,
        message: str,
        metadata: Mapping[str, Any] | None = None,
        channels: Sequence[str] | None = None,
    ) -> str:
        """Store a notification for ``user_id``, push it to their open tabs unless they
        muted its type, publish ``notification_created``; return the new id."""
        app = recipient_app(user_id, "create_notification")
        return await _service().create(
            app, user_id, notification_type, title, message, metadata, channels
        )

    async def list_notifications(
        self, user_id: str, *, unread_only: bool = False, limit: int = 50, offset: int = 0
    ) -> dict[str, Any]:
        """``{notifications, count, unread_count}``: a page, newest first."""
        app = recipient_app(user_id, "list_notifications")
        return await _service().page(
            app, user_id, unread_only=unread_only, limit=limit, offset=offset
        )

    async def unread_count(self, user_id: str) -> int:
        return await _service().unread_count(recipient_app(user_id, "unread_count"), user_id)

    async def mark_read(self, user_id: str, notification_id: str, read: bool = True) -> bool:
        """Mark one of the user's notifications read (or unread); False when none has
        that id."""
        app = recipient_app(user_id, "mark_read")
        return await _service().mark_read(app, user_id, notification_id, read)

    async def mark_all_read(self, user_id: str) -> int:
        app = recipient_app(user_id, "mark_all_read")
        return await _service().mark_all_read(app, user_id)

    async def delete_notification(self, user_id: str, notification_id: str) -> bool:
        app = recipient_app(user_id, "delete_notification")
        return await _service().delete(app, user_id, notification_id)

    async def get_preferences(self, user_id: str) -> dict[str, dict[str, bool]]:
        app = recipient_app(user_id, "get_preferences")
        return await _service().preferences(app, user_id)

    async def set_preferences(
        self, user_id: str, preferences: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, dict[str, bool]]:
        app = recipient_app(user_id, "set_preferences")
        return await _service().set_preferences(app, user_id, preferences)

    def __repr__(self) -> str:
        return "<core.notifications_manager: notifications of the caller's app>"


def _service() -> NotificationService:
    return running.current().notifications


def present(document: Mapping[str, Any]) -> dict[str, Any]:
    """The client's view of a stored notification: string id, ISO 8601 UTC time."""
    created = document["created_at"]
    if isinstance(created, dt.datetime):
        created = created.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")
    return {
        "id": str(document["_id"]),
        "type": document["type"],
        "title": document["title"],
        "message": document["message"],
        "metadata": document.get("metadata") or {},
        "channels": document.get("channels") or [],
        "read": bool(document.get("read")),
        "created_at": created,
    }


def _now() -> dt.datetime:
    """Naive UTC to the millisecond: what the store keeps, so pushed and listed agree."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _object_id(value: str) -> ObjectId | None:
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


notifications_manager = NotificationsManager()
