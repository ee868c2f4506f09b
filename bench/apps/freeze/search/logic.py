"""A search box: the pattern comes from the client, as generated plugins often do."""

from core.config.database import db


async def execute(data: dict) -> dict:
    user_id = data["user_id"]
    if data.get("action") == "seed":
        await db["docs"].insert_many([{"title": "a" * 28} for _ in range(20)])
        return {"ok": True}
    try:
        query = {"user_id": user_id, "title": {"$regex": data["pattern"]}}
        found = await db["docs"].find(query, {"_id": 0}).to_list(100)
    except Exception as exc:  # the contract: report errors as a dict
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"found": len(found)}
