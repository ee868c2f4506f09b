"""Aggregations: the first stage must $match the user."""

from core.config.database import db


async def execute(data: dict) -> dict:
    user_id = data["user_id"]
    notes = db["notes"]
    if data.get("action") == "totals":
        pipeline = [{"$match": {"user_id": user_id}}, {"$group": {"_id": "$tag", "n": {"$sum": 1}}}]
        return {"totals": await notes.aggregate(pipeline).to_list(None)}
    if data.get("action") == "late_match":
        stages = [{"$sort": {"at": -1}}, {"$match": {"user_id": user_id}}]
        return {"rows": await notes.aggregate(stages).to_list(None)}  # finding: query-unscoped
    rows = await notes.aggregate([{"$match": {}}]).to_list(None)  # finding: query-unscoped
    return {"rows": rows}
