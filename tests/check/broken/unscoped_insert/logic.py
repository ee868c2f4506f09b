"""Inserted documents without user_id."""

from core.config.database import db


async def execute(data: dict) -> dict:
    user_id = data["user_id"]
    title = data.get("title", "untitled")
    if data.get("action") == "one":
        await db["notes"].insert_one({"title": title})  # finding: insert-unscoped
    elif data.get("action") == "many":
        await db["notes"].insert_many(
            [{"title": title, "user_id": user_id}, {"title": title}]  # finding: insert-unscoped
        )
    elif data.get("action") == "comprehension":
        docs = [{"user_id": user_id, "n": n} for n in range(3)]
        await db["notes"].insert_many(docs)
    elif data.get("action") == "spread":
        base = {"user_id": user_id}
        await db["notes"].insert_one({**base, "title": title})
    else:
        await db["notes"].insert_many({"user_id": user_id, "n": n} for n in range(3))
    return {"success": True}
