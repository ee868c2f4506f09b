"""A todo list written to the MozaiksCore plugin contract, using every core service.

Items live in the app's database, scoped by user. Creating an item pushes it to the
user's open tabs, may notify the user (a setting), and publishes ``todo:created``; the
handler below keeps an activity log from the ``todo:*`` events.
"""

import logging
from datetime import UTC, datetime

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ReturnDocument

from core.config.database import db
from core.event_bus import event_bus, on_event
from core.notifications_manager import notifications_manager
from core.settings_manager import settings_manager
from core.websocket_manager import websocket_manager

logger = logging.getLogger("mozaiks_plugins.todo")
PLUGIN = "todo"
ITEMS = "todo_items"
ACTIVITY = "todo_activity"
PRIORITIES = ("low", "normal", "high")
EDITABLE = ("title", "done", "priority")


@on_event("todo:*")
async def record_activity(payload: dict) -> None:
    """Runs after the publishing call, as the user who made the change."""
    await db[ACTIVITY].insert_one(
        {
            "user_id": payload["user_id"],
            "action": payload["action"],
            "item_id": payload["item_id"],
            "at": datetime.now(UTC),
        }
    )


async def execute(data: dict) -> dict:
    action = data.get("action", "")
    user_id = data["user_id"]
    handlers = {
        "list": handle_list,
        "create": handle_create,
        "get": handle_get,
        "update": handle_update,
        "delete": handle_delete,
        "activity": handle_activity,
        "settings": handle_settings,
        "save_settings": handle_save_settings,
    }
    handler = handlers.get(action)
    if handler is None:
        return {"error": f"Unknown action: {action}"}
    return await handler(user_id, data)


def public(item: dict) -> dict:
    item["_id"] = str(item["_id"])
    return item


def object_id(data: dict):
    try:
        return ObjectId(data.get("item_id"))
    except (InvalidId, TypeError):
        return None


async def handle_list(user_id: str, data: dict) -> dict:
    settings = await settings_manager.get_plugin_settings(user_id, PLUGIN)
    query = {"user_id": user_id}
    if "done" in data:
        query["done"] = bool(data["done"])
    limit = int(settings["max_items"])  # JSON Schema's "integer" admits 5.0 as well
    items = await db[ITEMS].find(query).sort("created_at", -1).to_list(limit)
    return {"items": [public(i) for i in items], "count": len(items)}


async def handle_create(user_id: str, data: dict) -> dict:
    title = str(data.get("title", "")).strip()
    if not title:
        return {"error": "title required", "error_code": "validation_error"}
    settings = await settings_manager.get_plugin_settings(user_id, PLUGIN)
    priority = data.get("priority", settings["default_priority"])
    if priority not in PRIORITIES:
        return {"error": f"priority must be one of {', '.join(PRIORITIES)}"}
    item = {
        "user_id": user_id,
        "title": title,
        "done": False,
        "priority": priority,
        "created_at": datetime.now(UTC).isoformat(),
    }
    result = await db[ITEMS].insert_one(item)
    item = public({**item, "_id": result.inserted_id})
    await websocket_manager.send_to_user(
        user_id, {"type": "todo_update", "action": "created", "data": item}
    )
    if settings["notify_on_create"]:
        await notifications_manager.create_notification(
            user_id=user_id,
            notification_type="todo_created",
            title="New todo",
            message=title,
            metadata={"item_id": item["_id"]},
        )
    event_bus.publish(
        "todo:created", {"user_id": user_id, "action": "created", "item_id": item["_id"]}
    )
    logger.info("todo %s created", item["_id"])
    return {"success": True, "id": item["_id"], "item": item}


async def handle_get(user_id: str, data: dict) -> dict:
    oid = object_id(data)
    item = await db[ITEMS].find_one({"_id": oid, "user_id": user_id}) if oid else None
    if not item:
        return {"error": "not found", "error_code": "not_found"}
    return {"item": public(item)}


async def handle_update(user_id: str, data: dict) -> dict:
    oid = object_id(data)
    changes = {k: data[k] for k in EDITABLE if k in data}
    if oid is None:
        return {"error": "item_id required", "error_code": "validation_error"}
    if not changes:
        return {"error": f"nothing to update: send one of {', '.join(EDITABLE)}"}
    if "priority" in changes and changes["priority"] not in PRIORITIES:
        return {"error": f"priority must be one of {', '.join(PRIORITIES)}"}
    item = await db[ITEMS].find_one_and_update(
        {"_id": oid, "user_id": user_id}, {"$set": changes}, return_document=ReturnDocument.AFTER
    )
    if not item:
        return {"error": "not found", "error_code": "not_found"}
    item = public(item)
    await websocket_manager.send_to_user(
        user_id, {"type": "todo_update", "action": "updated", "data": item}
    )
    event_bus.publish(
        "todo:updated", {"user_id": user_id, "action": "updated", "item_id": item["_id"]}
    )
    return {"success": True, "item": item}


async def handle_delete(user_id: str, data: dict) -> dict:
    oid = object_id(data)
    result = await db[ITEMS].delete_one({"_id": oid, "user_id": user_id}) if oid else None
    if not result or not result.deleted_count:
        return {"error": "not found", "error_code": "not_found"}
    item_id = str(oid)
    await websocket_manager.send_to_user(
        user_id, {"type": "todo_update", "action": "deleted", "data": {"_id": item_id}}
    )
    event_bus.publish("todo:deleted", {"user_id": user_id, "action": "deleted", "item_id": item_id})
    return {"success": True}


async def handle_activity(user_id: str, data: dict) -> dict:
    entries = await db[ACTIVITY].find({"user_id": user_id}).sort("at", 1).to_list(100)
    return {"activity": [{"action": e["action"], "item_id": e["item_id"]} for e in entries]}


async def handle_settings(user_id: str, data: dict) -> dict:
    return {"settings": await settings_manager.get_plugin_settings(user_id, PLUGIN)}


async def handle_save_settings(user_id: str, data: dict) -> dict:
    values = data.get("settings")
    if not isinstance(values, dict):
        return {"error": "settings must be an object", "error_code": "validation_error"}
    result = await settings_manager.save_plugin_settings(user_id, PLUGIN, values)
    if not result["success"]:
        return {
            "error": result["error"],
            "field": result["field"],
            "error_code": "validation_error",
        }
    return result
