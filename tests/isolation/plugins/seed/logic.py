"""A well-behaved plugin: each user keeps secrets in "notes"; "board" is shared."""

from core.config.database import db


async def execute(data: dict) -> dict:
    user_id = data["user_id"]
    action = data.get("action")
    if action == "add":
        result = await db["notes"].insert_one({"secret": data["secret"]})
        await db["board"].insert_one({"by": user_id, "score": data.get("score", 0)})
        return {"id": str(result.inserted_id)}
    if action == "mine":
        notes = await db["notes"].find({"user_id": user_id}, {"_id": 0}).to_list(None)
        return {"notes": notes}
    if action == "board":
        return {"board": await db["board"].find({}, {"_id": 0}).sort("score", -1).to_list(10)}
    return {"error": f"unknown action {action!r}"}
