async def execute(data: dict) -> dict:
    return {"plugin": "hyphen-name"}
