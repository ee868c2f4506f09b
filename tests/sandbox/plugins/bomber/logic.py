"""Hostile: leaves a thread that ends its worker once the call has answered."""

import asyncio
import os
import threading


async def execute(data: dict) -> dict:
    if data.get("action") == "bomb":
        await asyncio.sleep(0.5)  # calls at once hold a worker each
        threading.Timer(0.3, os._exit, (1,)).start()
    return {"ok": True}
