"""The successor "module" layout, reported."""  # finding: module-layout


async def handle(data: dict) -> dict:
    return {"ok": True}
