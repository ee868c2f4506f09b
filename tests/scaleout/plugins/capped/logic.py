import asyncio


async def execute(data: dict) -> dict:
    await asyncio.sleep(data.get("sleep", 1.0))
    return {"ok": True}
