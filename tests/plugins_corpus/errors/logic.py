async def execute(data: dict) -> dict:
    kind = data.get("kind")
    if kind == "plain":
        return {"error": "title required"}
    if kind == "not_found":
        return {"error": "no such item", "error_code": "NOT_FOUND"}
    if kind == "explicit":
        return {"error": "gone", "http_status": 410}
    return {"ok": True}
