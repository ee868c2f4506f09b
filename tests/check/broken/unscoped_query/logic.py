"""Queries that reach other users' documents, and ones that do not."""

from bson import ObjectId

import core.config.database
from core.config.database import db

COLLECTION = "notes"
notes = db[COLLECTION]
board = db["board"]


def archive():
    return db["archive"]


def by_id(item_id: str) -> dict:
    return {"_id": ObjectId(item_id)}


async def find_matching(user_id: str, query: dict) -> list:
    return await notes.find(query).to_list(100)  # finding: scope-unverified


async def execute(data: dict) -> dict:
    user_id = data["user_id"]
    action = data.get("action")
    if action == "all":
        return {"items": await db[COLLECTION].find().to_list(100)}  # finding: query-unscoped
    if action == "everyone":
        return {"items": await notes.find({}).to_list(100)}  # finding: query-unscoped
    if action == "by_id":
        item_id = data.get("item_id")
        if not item_id or not ObjectId.is_valid(item_id):
            return {"error": "item_id required"}
        coll = db.get_collection(COLLECTION)
        await coll.delete_one({"_id": ObjectId(item_id)})  # finding: query-unscoped
        return {"success": True}
    if action == "built":
        query = {"done": True}
        return {"n": await notes.count_documents(query)}  # finding: query-unscoped
    if action == "built_then_pinned":
        query = {"done": True}
        query["user_id"] = user_id
        return {"n": await notes.count_documents(query)}
    if action == "not_equal":
        query = {"user_id": {"$ne": user_id}}
        return {"n": await notes.count_documents(query)}  # finding: query-unscoped
    if action == "or":
        either = {"$or": [{"user_id": user_id}, {"public": True}]}
        return {"n": await db.notes.count_documents(either)}  # finding: query-unscoped
    if action == "and":
        both = {"$and": [{"user_id": user_id}, {"public": True}]}
        return {"n": await db.notes.count_documents(both)}
    if action == "distinct":
        return {"tags": await notes.distinct("tag")}  # finding: query-unscoped
    if action == "archived":
        return {"n": await archive().count_documents({})}  # finding: query-unscoped
    if action == "spelled_out":
        everything = core.config.database.db["notes"].find({})  # finding: query-unscoped
        return {"items": await everything.to_list(10)}
    if action == "distinct_mine":
        return {"tags": await notes.distinct("tag", {"user_id": user_id})}
    if action == "estimate":
        return {"n": await notes.estimated_document_count()}  # finding: query-unscoped
    if action == "wipe":
        await notes.delete_many({})  # finding: query-unscoped
        return {"success": True}
    if action == "helper_filter":
        if not ObjectId.is_valid(data.get("item_id")):
            return {"error": "item_id required"}
        return {"item": await notes.find_one(by_id(data["item_id"]))}  # finding: query-unscoped
    if action == "helper":
        return {"items": await find_matching(user_id, {"user_id": user_id})}
    if action == "board":
        # "board" is declared shared in manifest.json: app-wide on purpose.
        return {"board": await board.find({}).to_list(10)}
    if action == "escalated":
        admin = db.as_admin(reason="support")
        return {"n": await admin["notes"].count_documents({})}
    return {"error": "unknown action"}
