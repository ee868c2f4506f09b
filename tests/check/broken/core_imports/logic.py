"""Imports of core names the contract does not define."""

import core.cache  # finding: core-import
from core.database import collection  # finding: core-import

from core.config.database import db
from core.event_bus import event_bus, publish  # finding: core-import
from core.websocket_manager import *  # noqa: F403


async def execute(data: dict) -> dict:
    await collection.find_one({"user_id": data["user_id"]})
    event_bus.publish("x", {})
    publish("y", {})
    return {"cache": str(core.cache), "db": str(db)}
