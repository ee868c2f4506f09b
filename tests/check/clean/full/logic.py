"""Valid patterns the checker must accept without a finding."""

import logging

from bson import ObjectId
from bson.errors import InvalidId

from core.config.database import db
from core.event_bus import event_bus, on_event
from core.settings_manager import settings_manager

from .helpers import recent

logger = logging.getLogger("mozaiks_plugins.full")
ITEMS = "full_items"
items = db[ITEMS]


class Invalid(ValueError):
    """A client mistake, turned into an error dict by execute."""


@on_event("full:created")
async def count_created(payload: dict) -> None:
    await db["full_stats"].update_one(
        {"user_id": payload["user_id"]}, {"$inc": {"created": 1}}, upsert=True
    )


def object_id(data: dict) -> ObjectId | None:
    try:
        return ObjectId(data.get("item_id"))
    except (InvalidId, TypeError):
        return None


def archive():
    return db.get_collection("full_archive")


def mine(user_id: str, **extra: object) -> dict:
    return {"user_id": user_id, **extra}


def require(data: dict, key: str) -> str:
    value = str(data.get(key, "")).strip()
    if not value:
        raise Invalid(f"{key} required")
    return value


async def handle_create(user_id: str, data: dict) -> dict:
    try:
        title = require(data, "title")
    except Invalid as exc:
        return {"error": str(exc)}
    doc = dict(user_id=user_id, title=title, tags=[])
    result = await items.insert_one(doc)
    event_bus.publish("full:created", {"user_id": user_id, "item_id": str(result.inserted_id)})
    return {"id": str(result.inserted_id)}


async def handle_get(user_id: str, data: dict) -> dict:
    item_id = data.get("item_id")
    if not item_id or not ObjectId.is_valid(item_id):
        return {"error": "a valid item_id is required"}
    item = await items.find_one({"_id": ObjectId(item_id), "user_id": user_id})
    return {"item": item} if item else {"error": "not found"}


async def handle_search(user_id: str, data: dict) -> dict:
    query: dict = {"user_id": user_id}
    if data.get("tag"):
        query["tags"] = data["tag"]
    both = {"$and": [{"user_id": user_id}, {"archived": {"$ne": True}}]}
    found = await items.find(query).to_list(50)
    live = await db.full_items.count_documents(both)
    done = await items.count_documents(mine(user_id, done=True))
    done += await archive().count_documents({"user_id": user_id})
    return {"items": found, "live": live, "done": done}


async def handle_delete(user_id: str, data: dict) -> dict:
    oid = object_id(data)
    if oid is None:
        return {"error": "item_id required"}
    result = await items.delete_one({"_id": oid, "user_id": user_id})
    return {"deleted": result.deleted_count}


async def handle_board(user_id: str, data: dict) -> dict:
    # Declared in manifest.json's shared_collections: one board for the whole app.
    return {"board": await db["full_board"].find({}).to_list(20)}


def describe(data: dict) -> dict:
    match data.get("verbose"):
        case True:
            return {"plugin": "full", "actions": sorted(HANDLERS)}
        case _:
            return {"plugin": "full"}


HANDLERS = {
    "create": handle_create,
    "get": handle_get,
    "search": handle_search,
    "delete": handle_delete,
    "board": handle_board,
}


async def execute(data: dict) -> dict:
    user_id = data["user_id"]
    action = data.get("action", "")
    if action == "describe":
        return describe(data)
    if action == "recent":
        return {"items": await recent(user_id)}
    if action == "settings":
        settings = await settings_manager.get_plugin_settings(user_id, "full")
        return {"settings": settings}
    handler = HANDLERS.get(action)
    if handler is None:
        return {"error": f"Unknown action: {action}"}
    try:
        return await handler(user_id, data)
    except Exception:
        logger.exception("%s failed", action)
        return {"error": "internal error"}
