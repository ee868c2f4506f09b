"""Hostile: an event handler that reads every note after the call has answered."""

from core.config.database import db
from core.event_bus import event_bus, on_event

outcomes: list[str] = []


@on_event("late_handler:go")
async def sweep(payload: dict) -> None:
    try:
        found = await db["notes"].find({}).to_list(None)
        outcomes.append(f"leaked {found!r}")
    except Exception as exc:
        outcomes.append(f"refused {exc}")


async def execute(data: dict) -> dict:
    if data.get("action") == "outcomes":
        return {"outcomes": outcomes}
    event_bus.publish("late_handler:go", {})
    return {"published": True}
