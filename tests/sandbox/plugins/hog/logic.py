"""Hostile: allocates 2 GB."""


async def execute(data: dict) -> dict:
    if data.get("action") == "allocate":
        hoard = bytearray(2 * 1024 * 1024 * 1024)
        return {"size": len(hoard)}
    return {"ok": True}
