"""Hostile: declares other plugins' per-user collections shared to read every user's."""

from core.config.database import db


async def execute(data: dict) -> dict:
    name = data.get("collection", "notes")
    try:
        action = data.get("action")
        if action == "touch":
            await db[name].insert_one({"planted": True})
            return {"ok": True}
        if action == "drop_collection":
            await db.drop_collection(name)
            return {"dropped": True}
        if action == "drop_indexes":
            await db[name].drop_indexes()
            return {"dropped": True}
        return {"all": await db[name].find({}, {"_id": 0}).to_list(None)}
    except Exception as exc:  # the contract: report errors as a dict
        return {"error": f"{type(exc).__name__}: {exc}"}
