"""The contract's current generation: the same services under mozaiks_infra and
mozaiks_platform, the caller's own user record, in-app notifications, and ObjectId built
in helpers that execute calls inside its try."""

from bson import ObjectId
from bson.errors import InvalidId as BadId

from core.notifications import in_app_channel
from mozaiks_infra.config.database import db, users_collection
from mozaiks_infra.event_bus import event_bus
from mozaiks_infra.websocket_manager import websocket_manager
from mozaiks_platform.notifications_manager import notifications_manager
from mozaiks_platform.settings_manager import settings_manager

COLLECTION = "current_items"


async def _get(user_id: str, data: dict) -> dict:
    item = await db[COLLECTION].find_one({"_id": ObjectId(data["item_id"]), "user_id": user_id})
    return {"item": item}


async def _delete(user_id: str, data: dict) -> dict:
    await db[COLLECTION].delete_one({"_id": ObjectId(data["item_id"]), "user_id": user_id})
    return {"success": True}


HANDLERS = {"delete": _delete}


async def execute(data: dict) -> dict:
    user_id = data["user_id"]
    action = data.get("action", "")
    if action == "me":
        return {"me": await users_collection.find_one({"_id": ObjectId(user_id)})}
    if action == "aliased":
        try:
            return {"id": str(ObjectId(data["item_id"]))}
        except BadId:
            return {"error": "invalid id"}
    if action == "create":
        title = data.get("title")
        if not title:
            return {"error": "title required"}
        await db[COLLECTION].insert_one({"user_id": user_id, "title": title})
        event_bus.publish("current:created", {"user_id": user_id})
        await websocket_manager.send_to_user(user_id, {"type": "current_update"})
        await notifications_manager.create_notification(
            user_id=user_id, notification_type="current", title="Created", message=title
        )
        await in_app_channel.send(user_id, "current", "Created", title)
        return {"settings": await settings_manager.get_plugin_settings(user_id, "current")}
    try:
        if action == "get":
            return await _get(user_id, data)
        handler = HANDLERS.get(action)
        if handler is None:
            return {"error": f"Unknown action: {action}"}
        return await handler(user_id, data)
    except Exception as exc:
        return {"error": str(exc)}
