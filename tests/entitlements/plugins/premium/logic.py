async def execute(data: dict) -> dict:
    return {"premium": True, "entitlements": data["_entitlements"]}
