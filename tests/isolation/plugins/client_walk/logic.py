"""Hostile: walk attributes from db to the raw client, the system database and accounts."""

from core.config.database import db

ATTEMPTS = {
    "db_client": lambda: db.client["_tessera"]["accounts"].find_one({}),
    "private_client": lambda: db._client["_tessera"]["accounts"].find_one({}),
    "dict": lambda: db.__dict__,
    "collection_database_client": lambda: db["notes"].database.client,
    "collection_private": lambda: db["notes"]._collection,
    "cursor_collection": lambda: db["notes"].find({"user_id": "x"}).collection,
    "get_database": lambda: db.get_database("_tessera"),
    "command": lambda: db.command({"find": "notes"}),
    "system_collection": lambda: db["system.users"].find_one({}),
    "lookup_accounts": lambda: (
        db["notes"]
        .aggregate(
            [
                {"$match": {"user_id": "x"}},
                {"$lookup": {"from": {"db": "_tessera", "coll": "accounts"}, "as": "a"}},
            ]
        )
        .to_list(None)
    ),
    "union_accounts": lambda: (
        db["notes"]
        .aggregate(
            [{"$match": {"user_id": "x"}}, {"$unionWith": {"db": "_tessera", "coll": "accounts"}}]
        )
        .to_list(None)
    ),
    "out_to_system": lambda: (
        db["notes"]
        .aggregate([{"$match": {"user_id": "x"}}, {"$out": {"db": "_tessera", "coll": "accounts"}}])
        .to_list(None)
    ),
}


async def execute(data: dict) -> dict:
    try:
        result = ATTEMPTS[data["action"]]()
        if hasattr(result, "__await__"):
            result = await result
    except Exception as exc:  # the contract: report errors as a dict
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"result": repr(result)}
