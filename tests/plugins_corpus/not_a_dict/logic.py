async def execute(data: dict) -> list:
    return ["not", "a", "dict"]
