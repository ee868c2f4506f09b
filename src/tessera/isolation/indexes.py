"""The indexes the runtime creates for plugins, so scoped queries stay fast without the
plugin asking: ``user_id`` on every collection a plugin touches, and ``user_id`` followed
by the sort keys of a scoped ``find(...).sort(...)`` that no index gives in order.

Without the second kind, the embedded store reads every document of the user to sort
them: 1,000 documents cost 30-60 times a 20-document index read (docs/performance.md).
The rule, written down in docs/isolation.md: an index ``[("user_id", 1), *sort]`` is made,
in the background, for a sort of at most `MAX_SORT_FIELDS` fields, none of them
``user_id`` or an operator, when no index already starts with ``user_id`` then those
fields (in the same or all-reversed directions), while the collection holds at most
`MAX_SORT_BUILD_DOCUMENTS` documents and fewer than `MAX_SORT_INDEXES` such indexes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from tessera.isolation.policy import logged
from tessera.store.query.sorting import normalize_sort

logger = logging.getLogger("tessera.isolation")

#: Sort fields an automatic index covers; longer sorts are left as they are.
MAX_SORT_FIELDS = 3
#: Above this many documents, building the index would hold the store's writer for
#: seconds (about 20 µs a document): the runtime logs the index to create instead.
MAX_SORT_BUILD_DOCUMENTS = 100_000
#: Indexes of ``user_id`` and more fields a collection may have before the runtime stops
#: adding them: each one is an entry more for every insert and update.
MAX_SORT_INDEXES = 4


class UserIndexes:
    """Remembers the collections and sorts already seen, so only a first touch pays."""

    __slots__ = ("_done", "_pending", "_sorts")

    def __init__(self) -> None:
        self._done: set[tuple[str, str]] = set()
        self._sorts: set[tuple[str, str, tuple[tuple[str, int], ...]]] = set()
        self._pending: set[asyncio.Task[None]] = set()

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

    def ensure_sorted(self, collection: Any, sort: Any, direction: Any = None) -> None:
        """Start making the index a scoped find sorted by ``sort`` (PyMongo's ``sort()``
        arguments) reads in order, unless this sort was seen on ``collection`` before.

        The build runs in the background: the call that first sorts this way does not
        wait for it, and sorts in memory as before.
        """
        try:
            spec = tuple(normalize_sort(sort, direction))
        except Exception:  # the store refuses it, with its own error, when the query runs
            return
        key = (collection.database.name, collection.name, spec)
        if not spec or key in self._sorts:
            return
        self._sorts.add(key)
        if len(spec) > MAX_SORT_FIELDS or any(
            name == "user_id"
            or name.startswith("$")
            or name.startswith("user_id.")
            or direction not in (1, -1)  # a textScore sort: no index gives it
            for name, direction in spec
        ):
            return
        task = asyncio.get_running_loop().create_task(self._make_sorted(collection, spec))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def settled(self) -> None:
        """Wait for the indexes being built in the background (tests, shutdown)."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def _make_sorted(self, collection: Any, spec: tuple[tuple[str, int], ...]) -> None:
        where = f"{collection.database.name}.{collection.name}"
        keys = [("user_id", 1), *spec]
        try:
            existing = [info["key"] for info in (await collection.index_information()).values()]
            if any(_serves(fields, spec) for fields in existing):
                return
            scoped = sum(1 for fields in existing if len(fields) > 1 and _leads(fields))
            if scoped >= MAX_SORT_INDEXES:
                logger.warning(
                    "%s sorts by %s in memory: it has %d indexes on user_id and more fields "
                    "already, the most the runtime makes; create_index(%s) to read in order",
                    where, logged(repr(list(spec))), scoped, logged(repr(keys)),
                )  # fmt: skip
                return
            count = await collection.estimated_document_count()
            if count > MAX_SORT_BUILD_DOCUMENTS:
                logger.warning(
                    "%s sorts by %s in memory: at %d documents the runtime leaves the index "
                    "to you; create_index(%s) to read in order",
                    where, logged(repr(list(spec))), count, logged(repr(keys)),
                )  # fmt: skip
                return
            name = await collection.create_index(keys)
            logger.info("created index %s on %s for a scoped sort", name, where)
        except Exception:  # an index is an optimisation: the queries run without it
            logger.exception("could not create the index %s on %s", logged(repr(keys)), where)


def _leads(fields: Sequence[Sequence[Any]]) -> bool:
    return bool(fields) and fields[0][0] == "user_id"


def _serves(fields: Sequence[Sequence[Any]], spec: tuple[tuple[str, int], ...]) -> bool:
    """Whether an index of ``fields`` yields ``spec``'s order after a ``user_id`` equality
    (read forwards or backwards, as the store's planner does)."""
    if not _leads(fields) or len(fields) < 1 + len(spec):
        return False
    after = fields[1 : 1 + len(spec)]
    if any(name != want for (name, _), (want, _) in zip(after, spec, strict=True)):
        return False
    same = {int(d) == want for (_, d), (_, want) in zip(after, spec, strict=True)}
    return len(same) == 1
