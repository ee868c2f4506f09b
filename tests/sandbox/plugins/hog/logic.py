"""Hostile: allocates 2 GB (or ``mb`` MiB); ``nap`` sleeps (``seconds``, 1 by default),
saying when it ran."""

import asyncio
import time


async def execute(data: dict) -> dict:
    if data.get("action") == "allocate":
        hoard = bytearray(data.get("mb", 2048) * 1024 * 1024)
        return {"size": len(hoard)}
    if data.get("action") == "nap":
        started = time.time()
        await asyncio.sleep(data.get("seconds", 1))
        return {"started": started, "ended": time.time()}
    return {"ok": True}
