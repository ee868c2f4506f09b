"""Keeps collections in module globals, as the contract's examples do, and tries the
database while being imported."""

from core.config.database import db

notes = db["notes"]
by_attribute = db.notes

try:
    db.current().client  # noqa: B018
    at_import = "reached the client"
except Exception as exc:
    at_import = f"{type(exc).__name__}: {exc}"


async def execute(data: dict) -> dict:
    action = data.get("action")
    if action == "import":
        return {"at_import": at_import}
    if action == "add":
        await notes.insert_one({"secret": data["secret"]})
        return {"ok": True}
    if action == "mine":
        return {"notes": await notes.find({"user_id": data["user_id"]}, {"_id": 0}).to_list(None)}
    try:
        return {"all": await by_attribute.find({}).to_list(None)}
    except Exception as exc:  # the contract: report errors as a dict
        return {"error": str(exc)}
