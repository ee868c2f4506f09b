"""No execute and no run: nothing to call."""  # finding: entry-missing


async def handle(data: dict) -> dict:
    return {"ok": True}
