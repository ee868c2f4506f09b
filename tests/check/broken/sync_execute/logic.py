"""A synchronous entry point: the contract wants ``async def execute``."""


def execute(data: dict) -> dict:  # finding: entry-sync
    return {"ok": True}
