import time


async def execute(data: dict) -> dict:
    time.sleep(float(data.get("seconds", 1.0)))  # blocks the event loop on purpose
    return {"ok": True}
