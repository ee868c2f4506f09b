"""A required field used by a database call before anything looks at it."""

from core.config.database import db


async def handle_rename(user_id: str, data: dict) -> dict:
    title = data.get("title")
    if not title:
        return {"error": "title required"}
    await db["notes"].update_many({"user_id": user_id}, {"$set": {"title": title}})
    return {"success": True}


async def handle_tag(user_id: str, data: dict) -> dict:
    if "tag" not in data:
        return {"error": "tag required"}
    tag = data.get("tag")
    await db["notes"].update_many({"user_id": user_id}, {"$addToSet": {"tags": tag}})
    return {"success": True}


async def execute(data: dict) -> dict:
    user_id = data["user_id"]
    action = data.get("action")
    if action == "create":
        title = data.get("title")
        await db["notes"].insert_one(
            {"user_id": user_id, "title": title}  # finding: input-unchecked
        )
        return {"success": True}
    if action == "rename":
        return await handle_rename(user_id, data)
    if action == "tag":
        return await handle_tag(user_id, data)
    if action == "optional":
        colour = data.get("colour", "blue")
        await db["notes"].update_many({"user_id": user_id}, {"$set": {"colour": colour}})
        return {"success": True}
    return {"error": "unknown action"}
