"""Answers the whole `data` the runtime handed the plugin."""


async def execute(data: dict) -> dict:
    return {"data": data}
