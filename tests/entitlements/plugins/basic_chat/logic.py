async def execute(data: dict) -> dict:
    return {"said": data.get("text", "")}
