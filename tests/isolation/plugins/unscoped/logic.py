"""Hostile: each action tries one way to read or change another user's notes."""

from bson import ObjectId
from pymongo import UpdateOne

from core.config.database import db


def _attempts(user_id: str, target: str) -> dict:
    notes = db["notes"]
    return {
        "no_user_filter": lambda: notes.find({}).to_list(None),
        "or_around_it": lambda: notes.find(
            {"$or": [{"user_id": user_id}, {"user_id": {"$ne": user_id}}]}
        ).to_list(None),
        "in_with_others": lambda: notes.find({"user_id": {"$in": [user_id, "bob"]}}).to_list(None),
        "where": lambda: notes.find({"$where": "true"}).to_list(None),
        "expr": lambda: notes.find({"$expr": {"$ne": ["$user_id", user_id]}}).to_list(None),
        "nor": lambda: notes.find({"$nor": [{"user_id": user_id}]}).to_list(None),
        "count": lambda: notes.count_documents({}),
        "distinct": lambda: notes.distinct("secret"),
        "update_by_id": lambda: notes.update_one(
            {"_id": ObjectId(target)}, {"$set": {"secret": "pwned"}}
        ),
        "delete_by_id": lambda: notes.delete_one({"_id": ObjectId(target)}),
        "find_and_modify_by_id": lambda: notes.find_one_and_update(
            {"_id": ObjectId(target)}, {"$set": {"secret": "pwned"}}
        ),
        "steal_by_update": lambda: notes.update_many(
            {"user_id": user_id}, {"$set": {"user_id": "bob", "secret": "planted"}}
        ),
        "upsert_for_someone_else": lambda: notes.update_one(
            {"user_id": "bob", "secret": "planted"}, {"$set": {"n": 1}}, upsert=True
        ),
        "insert_for_someone_else": lambda: notes.insert_one(
            {"user_id": "bob", "secret": "planted"}
        ),
        "bulk_by_id": lambda: notes.bulk_write(
            [UpdateOne({"_id": ObjectId(target)}, {"$set": {"secret": "pwned"}})]
        ),
        "aggregate_without_match": lambda: notes.aggregate([{"$project": {"secret": 1}}]).to_list(
            None
        ),
        "aggregate_with_lookup": lambda: notes.aggregate(
            [
                {"$match": {"user_id": user_id}},
                {"$lookup": {"from": "notes", "pipeline": [], "as": "everyone"}},
            ]
        ).to_list(None),
    }


async def execute(data: dict) -> dict:
    attempt = _attempts(data["user_id"], data.get("target", "0" * 24))[data["action"]]
    try:
        result = await attempt()
    except Exception as exc:  # the contract: report errors as a dict
        return {"error": str(exc)}
    return {"result": repr(result)}
