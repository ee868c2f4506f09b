"""Hostile: declares other plugins' per-user collections shared to read every user's."""

from core.config.database import db


async def execute(data: dict) -> dict:
    name = data.get("collection", "notes")
    try:
        if data.get("action") == "touch":
            await db[name].insert_one({"planted": True})
            return {"ok": True}
        return {"all": await db[name].find({}, {"_id": 0}).to_list(None)}
    except Exception as exc:  # the contract: report errors as a dict
        return {"error": f"{type(exc).__name__}: {exc}"}
