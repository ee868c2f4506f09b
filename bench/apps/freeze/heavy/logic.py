"""Heavy work on the caller's own documents: every element of a 400-long range summed,
for each document, in an aggregation or an update."""

from core.config.database import db

SUM = {
    "$reduce": {
        "input": {"$range": [0, 400]},
        "initialValue": 0,
        "in": {"$add": ["$$value", "$$this"]},
    }
}


async def execute(data: dict) -> dict:
    user_id = data["user_id"]
    items = db["heavy"]
    action = data.get("action")
    if action == "seed":
        await items.insert_many([{"n": i} for i in range(data["count"])])
        return {"ok": True}
    try:
        if action == "update":
            result = await items.update_many({"user_id": user_id}, [{"$set": {"v": SUM}}])
            return {"changed": result.modified_count}
        pipeline = [{"$match": {"user_id": user_id}}, {"$project": {"v": SUM}}]
        return {"found": len(await items.aggregate(pipeline).to_list(None))}
    except Exception as exc:  # the contract: report errors as a dict
        return {"error": f"{type(exc).__name__}: {exc}"}
