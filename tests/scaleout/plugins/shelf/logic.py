"""Makes collections and indexes on demand, and reads them back; says which worker answered."""

import os

from core.config.database import db


async def execute(data: dict) -> dict:
    action, shelf = data.get("action"), db[data.get("shelf", "shelf")]
    if action == "put":
        await shelf.insert_one({"n": data["n"], "tags": data.get("tags", [])})
    elif action == "index":
        await shelf.create_index("tags")
    elif action == "get":
        wanted = {"user_id": data["user_id"], **({"tags": data["tag"]} if "tag" in data else {})}
        found = await shelf.find(wanted).to_list(None)
        indexes = [index["name"] for index in await shelf.list_indexes().to_list(None)]
        return {"found": sorted(doc["n"] for doc in found), "indexes": indexes, "pid": os.getpid()}
    return {"pid": os.getpid()}
