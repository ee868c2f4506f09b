import asyncio


async def execute(data: dict) -> dict:
    await asyncio.sleep(10)
    return {"done": True}
