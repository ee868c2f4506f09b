"""Hostile: ``arm`` leaves a timer that raises SystemExit (or KeyboardInterrupt) in the
worker's loop after the call has answered; ``nap`` is an innocent call that waits on it."""

import asyncio
import uuid

#: Which worker answered (each imports the plugin once).
WORKER = uuid.uuid4().hex


def _explode(kind: str) -> None:
    raise SystemExit(3) if kind == "exit" else KeyboardInterrupt


async def execute(data: dict) -> dict:
    if data.get("action") == "arm":
        loop = asyncio.get_running_loop()
        loop.call_later(data.get("after", 0.3), _explode, data.get("kind", "exit"))
        return {"armed": True}
    if data.get("action") == "nap":
        await asyncio.sleep(data.get("seconds", 1))
    return {"worker": WORKER}
