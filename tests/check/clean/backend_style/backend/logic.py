"""A plugin in the backend/ layout, with run as its entry point."""


async def run(data: dict) -> dict:
    return {"echo": data.get("message", "")}
