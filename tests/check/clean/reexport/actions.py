"""The database reached through its module rather than the name ``db``."""

from core.config import database


async def execute(data: dict) -> dict:
    user_id = data["user_id"]
    return {"n": await database.db["reexport"].count_documents({"user_id": user_id})}
