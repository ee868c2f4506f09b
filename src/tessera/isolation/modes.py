"""Whether each collection of an app holds per-user or shared documents: the first use
decides, for every plugin of the app, for good.

A manifest's ``shared_collections`` lets its plugin read and write a collection app-wide.
Without a rule, any plugin could list another plugin's per-user collection there and read
every user's documents; and a per-user plugin could write its users' documents into a
collection another plugin reads app-wide. So the first plugin to use a collection records
how (per user, or shared because its manifest says so), and afterwards a plugin may use it
only the same way: a per-user collection cannot be declared shared, and a shared one is
used only by plugins that declare it. A sandboxed plugin the operator did not list in
--sandbox-escalation shares no collection with other plugins: its manifest is its
author's, and another plugin's shared collection may hold every user's documents.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, NamedTuple

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from tessera.isolation.policy import Policy, unlisted

USER = "user"
SHARED = "shared"


class Record(NamedTuple):
    """How a collection was first used, and by which plugin."""

    mode: str
    plugin: str


class CollectionModes:
    """The recorded mode of every collection a plugin has used.

    :param records: a collection of the system database (None: kept in memory only, for a
        throwaway runtime).
    :param confined: whether a loaded plugin is a sandboxed one the operator did not list
        in --sandbox-escalation: it shares no collection with other plugins.
    """

    def __init__(
        self, records: Any | None = None, confined: Callable[[str], bool] | None = None
    ) -> None:
        self._records = records
        self._confined = confined or _trusted
        self._known: dict[tuple[str, str], Record] = {}
        self._lock = asyncio.Lock()

    async def ensure_indexes(self) -> None:
        if self._records is not None:
            keys = [("database", ASCENDING), ("collection", ASCENDING)]
            await self._records.create_index(keys, unique=True)

    def settled(self, database: str, collection: str, policy: Policy) -> bool:
        """Whether ``collection`` is known to be used as ``policy``'s manifest says: the
        common case, answered without waiting."""
        record = self._known.get((database, collection))
        wanted = SHARED if collection in policy.shared else USER
        return record is not None and record.mode == wanted and not self._others(record, policy)

    async def problem(self, database: str, collection: str, policy: Policy) -> str | None:
        """Why ``policy``'s plugin may not use ``collection`` (of the store database
        ``database``) the way its manifest says, or None."""
        wanted = SHARED if collection in policy.shared else USER
        record = self._known.get((database, collection))
        if record is None:
            record = await self._settle(database, collection, Record(wanted, policy.plugin))
        if record.mode == wanted and not self._others(record, policy):
            return None
        if record.mode == wanted:
            sandboxed = policy.plugin if policy.confined else record.plugin
            return f"{collection!r} is a shared collection of plugin {record.plugin!r}, and " + (
                unlisted(sandboxed, "sharing a collection with other plugins")
            )
        if wanted == SHARED:
            return (
                f"{collection!r} holds per-user documents (first used per user by plugin "
                f"{record.plugin!r}), so it cannot be shared; share a collection of your own"
            )
        return (
            f"{collection!r} is a shared collection (first used app-wide by plugin "
            f"{record.plugin!r}); per-user documents do not go there. List it in the "
            "manifest's shared_collections to use it app-wide, or use another collection"
        )

    def _others(self, record: Record, policy: Policy) -> bool:
        """Whether ``record`` is a shared collection of another plugin that ``policy``'s
        may not share: either of them is a sandboxed plugin the operator did not list
        (another plugin's collection may hold every user's documents, and one the
        sandboxed plugin used first would be its to read whatever others put there)."""
        if record.mode != SHARED or record.plugin == policy.plugin:
            return False
        return policy.confined or self._confined(record.plugin)

    async def _settle(self, database: str, collection: str, first: Record) -> Record:
        key = (database, collection)
        async with self._lock:  # one first use at a time in this process
            record = self._known.get(key)
            if record is None:
                record = await self._stored(database, collection, first)
                self._known[key] = record
        return record

    async def _stored(self, database: str, collection: str, first: Record) -> Record:
        if self._records is None:
            return first
        where = {"database": database, "collection": collection}
        found = await self._records.find_one(where)
        if found is None:
            try:
                await self._records.insert_one({**where, **first._asdict()})
                return first
            except DuplicateKeyError:  # another process used it first, just now
                found = await self._records.find_one(where)
        return Record(found["mode"], found["plugin"])


def _trusted(plugin: str) -> bool:
    return False
