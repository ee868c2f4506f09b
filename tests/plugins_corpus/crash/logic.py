async def execute(data: dict) -> dict:
    raise RuntimeError("secret database password is hunter2")
