CALLS = {"count": 0}


async def execute(data: dict) -> dict:
    CALLS["count"] += 1
    return {"calls": CALLS["count"]}
