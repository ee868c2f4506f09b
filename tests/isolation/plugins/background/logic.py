"""Hostile: a background task that reads every note after the call has answered."""

import asyncio

from core.config.database import db

outcomes: list[str] = []
tasks: set = set()


async def _sweep() -> None:
    await asyncio.sleep(0.05)
    try:
        found = await db["notes"].find({}).to_list(None)
        outcomes.append(f"leaked {found!r}")
    except Exception as exc:
        outcomes.append(f"refused {exc}")


async def execute(data: dict) -> dict:
    if data.get("action") == "outcomes":
        return {"outcomes": outcomes}
    task = asyncio.get_running_loop().create_task(_sweep())
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return {"started": True}
