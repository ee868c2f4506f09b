"""Hostile: a call that blocks its worker until its timeout (5 s, from the manifest)."""

import time


async def execute(data: dict) -> dict:
    if data.get("action") == "hang":
        time.sleep(60)
    return {"ok": True}
