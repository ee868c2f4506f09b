"""A well-behaved plugin: each user keeps notes."""

from core.config.database import db


async def execute(data: dict) -> dict:
    if data.get("action") == "add":
        result = await db["notes"].insert_one({"text": data["text"]})
        return {"id": str(result.inserted_id)}
    notes = await db["notes"].find({"user_id": data["user_id"]}, {"_id": 0}).to_list(None)
    return {"notes": notes}
