"""An ordinary per-user listing."""

from core.config.database import db


async def execute(data: dict) -> dict:
    user_id = data["user_id"]
    if data.get("action") == "add":
        await db["docs"].insert_one({"title": data["title"]})
    found = await db["docs"].find({"user_id": user_id}, {"_id": 0}).to_list(100)
    return {"count": len(found)}
