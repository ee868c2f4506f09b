"""ObjectId built from client input, guarded and not."""

import bson
from bson import ObjectId
from bson.errors import InvalidId

from core.config.database import db


async def _lookup(data: dict) -> str:
    return str(ObjectId(data["item_id"]))  # finding: objectid-unguarded


async def _guarded(data: dict) -> str:
    return str(ObjectId(data["item_id"]))


async def execute(data: dict) -> dict:
    user_id = data["user_id"]
    action = data.get("action")
    if action == "direct":
        oid = ObjectId(data.get("item_id"))  # finding: objectid-unguarded
        return {"id": str(oid)}
    if action == "through_a_name":
        item_id = data["item_id"].strip()
        item = await db["notes"].find_one(
            {"_id": ObjectId(item_id), "user_id": user_id}  # finding: objectid-unguarded
        )
        return {"found": bool(item)}
    if action == "wrong_except":
        try:
            oid = bson.ObjectId(data["item_id"])  # finding: objectid-unguarded
        except ValueError:
            return {"error": "invalid id"}
        return {"id": str(oid)}
    if action == "caught":
        try:
            oid = ObjectId(data["item_id"])
        except InvalidId:
            return {"error": "invalid id"}
        return {"id": str(oid)}
    if action == "validated":
        item_id = data.get("item_id")
        if not ObjectId.is_valid(item_id):
            return {"error": "invalid id"}
        await db["notes"].delete_one({"_id": ObjectId(item_id), "user_id": user_id})
        return {"success": True}
    if action == "helper_also_outside_a_try":
        if data.get("fast"):
            return {"id": await _lookup(data)}
        try:
            return {"id": await _lookup(data)}
        except InvalidId:
            return {"error": "invalid id"}
    if action == "helper_inside_a_try":
        try:
            return {"id": await _guarded(data)}
        except Exception:
            return {"error": "invalid id"}
    if action == "trusted":
        return {"id": str(ObjectId(data["user_id"]))}
    return {"error": "unknown action"}
