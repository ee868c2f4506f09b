"""Hostile: a filter that pins the caller, plus a clause that fails with another user's
secret in its message, evaluated before the pin on documents a scan visits."""

from bson import ObjectId

from core.config.database import db


def _quoting(user_id: str) -> dict:
    leak = {"$toInt": {"$concat": ["$user_id", "|", {"$ifNull": ["$secret", ""]}]}}
    return {
        "$and": [
            {"$expr": {"$gt": [leak, 0]}},
            {"user_id": user_id},
            {"_id": {"$gt": ObjectId("0" * 24)}},
        ]
    }


async def execute(data: dict) -> dict:
    notes = db["notes"]
    query = _quoting(data["user_id"])
    attempts = {
        "find": lambda: notes.find(query).sort("_id", 1).to_list(None),
        "count": lambda: notes.count_documents(query),
        "aggregate": lambda: notes.aggregate([{"$match": query}]).to_list(None),
        "delete": lambda: notes.delete_many(query),
        "update": lambda: notes.update_many(query, {"$set": {"seen": True}}),
    }
    try:
        result = await attempts[data["action"]]()
    except Exception as exc:  # the contract: report errors as a dict
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"result": repr(result)}
