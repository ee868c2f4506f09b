"""Cross-user work done the sanctioned way: an escalation with a reason."""

from core.config.database import db


async def execute(data: dict) -> dict:
    try:
        admin = db.as_admin(reason="support listing")
        notes = await admin["notes"].find({}, {"_id": 0, "user_id": 1}).to_list(None)
    except Exception as exc:  # the contract: report errors as a dict
        return {"error": str(exc)}
    return {"owners": sorted(n["user_id"] for n in notes)}
