"""A well-behaved plugin: per-user secrets in "loot", a per-user motto setting, and a
notification to the caller."""

from core.config.database import db
from core.notifications_manager import notifications_manager
from core.settings_manager import settings_manager


async def execute(data: dict) -> dict:
    user_id = data["user_id"]
    action = data.get("action")
    try:
        if action == "write":
            await db["loot"].insert_one({"secret": data["secret"]})
            return {"ok": True}
        if action == "mine":
            return {"loot": await db["loot"].find({"user_id": user_id}, {"_id": 0}).to_list(None)}
        if action == "motto":
            await settings_manager.save_plugin_settings(user_id, "diary", {"motto": data["motto"]})
            return {"ok": True}
        if action == "notify":
            nid = await notifications_manager.create_notification(
                user_id=user_id, notification_type="alert", title=data["secret"], message="m"
            )
            return {"id": nid}
    except Exception as exc:  # the contract: report errors as a dict
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"error": f"unknown action {action!r}"}
