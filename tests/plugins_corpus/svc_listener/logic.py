from core.config.database import db
from core.event_bus import on_event


@on_event("svc:*")
async def record(payload):
    await db["seen"].insert_one({"user_id": payload["user_id"], "n": payload["n"]})


async def execute(data: dict) -> dict:
    seen = await db["seen"].find({"user_id": data["user_id"]}).to_list(None)
    return {"seen": sorted(d["n"] for d in seen)}
