async def execute(data: dict) -> dict:
    return {"ok": True}
