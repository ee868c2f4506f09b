async def execute(data: dict) -> dict:
    return {"blob": "x" * int(data.get("size", 10))}
