"""Reports the process it runs in."""

import os


async def execute(data: dict) -> dict:
    return {"pid": os.getpid()}
