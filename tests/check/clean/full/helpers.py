"""A module of the plugin, imported relatively: its database calls are checked too."""

from core.config.database import db


async def recent(user_id: str) -> list:
    pipeline = [{"$match": {"user_id": user_id}}, {"$sort": {"_id": -1}}, {"$limit": 5}]
    return await db["full_items"].aggregate(pipeline).to_list(5)
