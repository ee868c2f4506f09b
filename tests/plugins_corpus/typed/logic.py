async def execute(data: dict) -> dict:
    return {"action": data.get("action"), "title": data.get("title")}
