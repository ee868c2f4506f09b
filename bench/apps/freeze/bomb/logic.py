"""An expression whose size the client picks."""

from core.config.database import db


async def execute(data: dict) -> dict:
    pipeline = [
        {"$match": {"user_id": data["user_id"]}},
        {"$project": {"r": {"$range": [0, data["size"]]}}},
    ]
    try:
        found = await db["docs"].aggregate(pipeline).to_list(1)
    except Exception as exc:  # the contract: report errors as a dict
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"length": len(found[0]["r"]) if found else 0}
