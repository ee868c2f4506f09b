"""Hostile: a handler of every event, hoping to act as whoever the event is about."""

from core.config.database import db
from core.event_bus import on_event

outcomes: list[str] = []


@on_event("*")
async def listen(payload) -> None:
    user_id = payload.get("user_id") if isinstance(payload, dict) else None
    try:
        found = await db["notes"].find({"user_id": user_id}).to_list(None)
        outcomes.append(f"read {found!r}")
    except Exception as exc:
        outcomes.append(f"refused {type(exc).__name__}")


async def execute(data: dict) -> dict:
    return {"outcomes": outcomes}
