"""The ``user_id`` index the runtime creates on every collection a plugin touches, so
scoped queries stay fast without the plugin asking."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("tessera.isolation")


class UserIndexes:
    """Remembers the collections already indexed, so only a first touch pays for it."""

    __slots__ = ("_done",)

    def __init__(self) -> None:
        self._done: set[tuple[str, str]] = set()

    def done(self, database: str, collection: str) -> bool:
        """Whether the index of ``database.collection`` was made (or is being made)."""
        return (database, collection) in self._done

    async def ensure(self, collection: Any) -> None:
        """Create the ``user_id`` index on ``collection`` once (a store collection)."""
        key = (collection.database.name, collection.name)
        if key in self._done:
            return
        # Marked first: concurrent first touches need not all wait for the same index.
        self._done.add(key)
        try:
            await collection.create_index("user_id")
        except Exception:  # an index is an optimisation: the operation must still run
            logger.exception("could not create the user_id index on %s", key)
