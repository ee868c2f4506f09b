"""Operators' enable/disable decisions, kept in the store so they survive restarts."""

from __future__ import annotations

import datetime as dt
from typing import Any


class PluginStates:
    """One document per plugin in the system database: ``{name, enabled, by, at}``."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection

    async def ensure_indexes(self) -> None:
        # Unique: processes sharing a store may save the same plugin's first decision at once.
        await self._collection.create_index("name", unique=True)

    async def load(self) -> dict[str, bool]:
        """Every saved decision, by plugin name."""
        saved = await self._collection.find({}, {"_id": 0, "name": 1, "enabled": 1}).to_list(None)
        return {doc["name"]: bool(doc["enabled"]) for doc in saved}

    async def save(self, name: str, enabled: bool, by: str) -> None:
        await self._collection.update_one(
            {"name": name},
            {"$set": {"enabled": enabled, "by": by, "at": dt.datetime.now(dt.UTC)}},
            upsert=True,
        )
