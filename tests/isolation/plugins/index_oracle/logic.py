"""Hostile: unique indexes on a per-user collection as an oracle of other users' values."""

from core.config.database import db


async def execute(data: dict) -> dict:
    emails = db["emails"]
    action = data.get("action")
    try:
        if action == "add":
            await emails.insert_one({"email": data["email"]})
            return {"ok": True}
        if action == "unique_app_wide":
            return {"name": await emails.create_index("email", unique=True)}
        if action == "unique_models":
            from pymongo import IndexModel

            return {"names": await emails.create_indexes([IndexModel("email", unique=True)])}
        if action == "unique_per_user":
            return {"name": await emails.create_index([("user_id", 1), ("email", 1)], unique=True)}
        if action == "drop_user_index":
            await emails.drop_index("user_id_1")
            return {"dropped": True}
        if action == "mine":
            return {
                "emails": await emails.find({"user_id": data["user_id"]}, {"_id": 0}).to_list(None)
            }
    except Exception as exc:  # the contract: report errors as a dict
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"error": f"unknown action {action!r}"}
