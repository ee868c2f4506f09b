"""Handlers reached through a dispatch table are held to the same rules as execute."""


async def handle_list(data: dict) -> dict:
    return {"items": []}


async def handle_archive(data: dict) -> dict:  # finding: missing-return
    if data.get("all"):
        return {"archived": "all"}


async def handle_purge(data: dict) -> dict:
    if not data["_context"]["is_superadmin"]:
        raise PermissionError("superadmins only")  # finding: raise-escapes
    return {"purged": True}


HANDLERS = {"list": handle_list, "archive": handle_archive, "purge": handle_purge}


async def execute(data: dict) -> dict:
    action = data.get("action", "")
    if action == "direct":
        return await HANDLERS["list"](data)
    handler = HANDLERS.get(action)
    if handler is None:
        return {"error": f"Unknown action: {action}"}
    if action == "purge":
        return handler(data)  # finding: return-not-dict
    return await handler(data)
