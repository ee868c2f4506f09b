import asyncio


async def execute(data: dict) -> dict:
    await asyncio.sleep(float(data.get("seconds", 0.5)))
    return {"ok": True}
