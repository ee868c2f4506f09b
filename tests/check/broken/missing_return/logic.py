"""Paths of execute that answer something other than a dict."""

from core.config.database import db


async def handle_list(user_id: str) -> dict:  # finding: missing-return
    items = await db["notes"].find({"user_id": user_id}).to_list(100)
    if items:
        return {"items": items}


async def handle_get(user_id: str, data: dict) -> dict:
    if data.get("strict"):
        return None  # finding: return-not-dict
    return {"item": None}


def handle_count(data: dict) -> dict:
    match data.get("kind"):
        case "all":
            return {"count": 2}
        case _:
            return {"count": 0}


async def handle_loop(data: dict) -> dict:
    while True:
        if data:
            return {"loop": True}


async def execute(data: dict) -> dict:  # finding: missing-return
    user_id = data["user_id"]
    action = data.get("action")
    if action == "list":
        return await handle_list(user_id)
    if action == "get":
        return await handle_get(user_id, data)
    if action == "count":
        return handle_count(data)
    if action == "loop":
        return await handle_loop(data)
    if action == "forgot_await":
        return handle_get(user_id, data)  # finding: return-not-dict
    if action == "text":
        return "done"  # finding: return-not-dict
    if action == "nothing":
        return  # finding: missing-return
    if action == "conditional":
        return {"ok": True} if data.get("ok") else []  # finding: return-not-dict
    if action == "built":
        return dict(ok=True)
