"""Publishes events under names of megabytes, each new: the bus would remember each."""

from core.event_bus import event_bus


async def execute(data):
    refused = []
    for n in range(data.get("count", 20)):
        try:
            await event_bus.publish(f"e{n}-" + "x" * data.get("size", 1_000_000), {})
        except ValueError as exc:
            refused.append(str(exc)[:80])
    return {"refused": refused}
