"""``core.notifications_manager``: a user's notifications, stored one document each.

Notifications live in the ``notifications`` collection of the system database, each
carrying its app and user, so they are never capped and ``create_notification`` returns
the id of a document that exists. A new notification is pushed to the user's WebSockets
as ``{"type": "notification", "subtype": "new", "data": {...}}`` unless the user muted its
type (it is still stored and listed). Every read and change is scoped to one user.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING

from tessera.services.event_bus import event_bus
from tessera.services.recipients import recipient_app
from tessera.services.websocket import WebSocketManager, websocket_manager

logger = logging.getLogger("tessera.notifications")

NOTIFICATION_CREATED = "notification_created"
NEWEST_FIRST = [("created_at", DESCENDING), ("_id", DESCENDING)]
MAX_PAGE = 500
# The largest skip a store takes: MongoDB's and SQLite's are signed 64-bit integers.
MAX_OFFSET = 2**63 - 1


class NotificationsManager:
    """Create, list, count, mark and delete notifications, and keep muted types."""

    def __init__(self, websockets: WebSocketManager) -> None:
        self._websockets = websockets
        self._notifications: Any = None
        self._preferences: Any = None
        self._default_app = "default"

    async def start(self, database: Any, *, default_app: str) -> None:
        """Use ``database`` (the system database) and create the indexes listing needs."""
        self._notifications = database["notifications"]
        self._preferences = database["notification_preferences"]
        self._default_app = default_app
        user = [("app_id", ASCENDING), ("user_id", ASCENDING)]
        await self._notifications.create_index([*user, *NEWEST_FIRST])
        await self._notifications.create_index([*user, ("read", ASCENDING), *NEWEST_FIRST])
        await self._preferences.create_index([*user, ("type", ASCENDING)], unique=True)

    def stop(self) -> None:
        self._notifications = self._preferences = None

    def _collection(self) -> Any:
        if self._notifications is None:
            raise RuntimeError(
                "core.notifications_manager was used outside a running Tessera runtime; "
                "run the plugin with `tessera serve` or tessera.testing"
            )
        return self._notifications

    def _app(self, user_id: str, app_id: str | None) -> str:
        return (
            app_id
            if app_id is not None
            else recipient_app(user_id, self._default_app, "notifications_manager")
        )

    async def create_notification(
        self,
        user_id: str,
        notification_type: str,
        title: str,
        message: str,
        metadata: Mapping[str, Any] | None = None,
        channels: Sequence[str] | None = None,
        *,
        app_id: str | None = None,
    ) -> str:
        """Store a notification for ``user_id`` in the caller's app, push it unless its
        type is muted, publish ``notification_created``; return the new id."""
        app = self._app(user_id, app_id)
        kind = str(notification_type)
        document: dict[str, Any] = {
            "app_id": app,
            "user_id": user_id,
            "type": kind,
            "title": str(title),
            "message": str(message),
            "metadata": dict(metadata or {}),
            "channels": list(channels) if channels is not None else ["in_app"],
            "read": False,
            "created_at": _now(),
        }
        result = await self._collection().insert_one(document)
        document["_id"] = result.inserted_id
        public = present(document)
        if await self.type_enabled(user_id, kind, app_id=app):
            push = {"type": "notification", "subtype": "new", "data": public}
            await self._websockets.send_in_app(app, user_id, push)
        event_bus.publish(
            NOTIFICATION_CREATED,
            {
                "app_id": app,
                "user_id": user_id,
                "notification_id": public["id"],
                "notification_type": kind,
            },
        )
        return public["id"]

    async def list_notifications(
        self,
        user_id: str,
        *,
        unread_only: bool = False,
        limit: int = 50,
        offset: int = 0,
        app_id: str | None = None,
    ) -> dict[str, Any]:
        """``{notifications, count, unread_count}``: a page, newest first; ``count`` is how
        many match in all."""
        scope = {"app_id": self._app(user_id, app_id), "user_id": user_id}
        query = {**scope, "read": False} if unread_only else scope
        limit = max(0, min(limit, MAX_PAGE))
        skip = min(max(0, offset), MAX_OFFSET)
        cursor = self._collection().find(query).sort(NEWEST_FIRST).skip(skip)
        documents = await cursor.limit(limit).to_list(None) if limit else []
        return {
            "notifications": [present(d) for d in documents],
            "count": await self._collection().count_documents(query),
            "unread_count": await self._collection().count_documents({**scope, "read": False}),
        }

    async def unread_count(self, user_id: str, *, app_id: str | None = None) -> int:
        scope = {"app_id": self._app(user_id, app_id), "user_id": user_id, "read": False}
        return int(await self._collection().count_documents(scope))

    async def mark_read(
        self, user_id: str, notification_id: str, read: bool = True, *, app_id: str | None = None
    ) -> bool:
        """Mark one of the user's notifications read (or unread); False when the user has
        no notification with that id."""
        oid = _object_id(notification_id)
        if oid is None:
            return False
        scope = {"_id": oid, "app_id": self._app(user_id, app_id), "user_id": user_id}
        result = await self._collection().update_one(scope, {"$set": {"read": bool(read)}})
        return bool(result.matched_count)

    async def mark_all_read(self, user_id: str, *, app_id: str | None = None) -> int:
        """Mark every unread notification of the user read; return how many changed."""
        scope = {"app_id": self._app(user_id, app_id), "user_id": user_id, "read": False}
        result = await self._collection().update_many(scope, {"$set": {"read": True}})
        return int(result.modified_count)

    async def delete_notification(
        self, user_id: str, notification_id: str, *, app_id: str | None = None
    ) -> bool:
        """Delete one of the user's notifications; False when there is none with that id."""
        oid = _object_id(notification_id)
        if oid is None:
            return False
        scope = {"_id": oid, "app_id": self._app(user_id, app_id), "user_id": user_id}
        result = await self._collection().delete_one(scope)
        return bool(result.deleted_count)

    async def get_preferences(
        self, user_id: str, *, app_id: str | None = None
    ) -> dict[str, dict[str, bool]]:
        """``{type: {"enabled": bool}}`` for every type the user has chosen for."""
        self._collection()
        scope = {"app_id": self._app(user_id, app_id), "user_id": user_id}
        chosen = await self._preferences.find(scope).to_list(None)
        return {p["type"]: {"enabled": bool(p["enabled"])} for p in chosen}

    async def set_preferences(
        self,
        user_id: str,
        preferences: Mapping[str, Mapping[str, Any]],
        *,
        app_id: str | None = None,
    ) -> dict[str, dict[str, bool]]:
        """Record ``{type: {"enabled": bool}}`` choices (other types keep theirs); return
        all of the user's choices. ValueError names a malformed entry."""
        self._collection()
        for kind, choice in preferences.items():
            if not isinstance(choice, Mapping) or not isinstance(choice.get("enabled"), bool):
                raise ValueError(f'{kind}: expected {{"enabled": true or false}}, got {choice!r}')
        app = self._app(user_id, app_id)
        for kind, choice in preferences.items():
            await self._preferences.update_one(
                {"app_id": app, "user_id": user_id, "type": kind},
                {"$set": {"enabled": choice["enabled"]}},
                upsert=True,
            )
        return await self.get_preferences(user_id, app_id=app)

    async def type_enabled(self, user_id: str, kind: str, *, app_id: str | None = None) -> bool:
        """Whether notifications of ``kind`` are pushed to the user (the default is yes)."""
        self._collection()
        scope = {"app_id": self._app(user_id, app_id), "user_id": user_id, "type": kind}
        choice = await self._preferences.find_one(scope)
        return choice is None or bool(choice["enabled"])


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


notifications_manager = NotificationsManager(websocket_manager)
