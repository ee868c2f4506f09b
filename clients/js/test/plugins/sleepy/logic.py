import asyncio


async def execute(data: dict) -> dict:
    await asyncio.sleep(5)
    return {}
