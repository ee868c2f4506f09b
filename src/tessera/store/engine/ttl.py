"""TTL indexes: documents removed once the date in an indexed field is old enough.

``create_index("created_at", expireAfterSeconds=3600)`` makes one, as in MongoDB: a
single-field index whose field holds a date (or an array of dates: the earliest counts).
A document whose field holds no date never expires. `TTLMonitor` removes expired
documents in the background, every `INTERVAL_SECONDS` as MongoDB's monitor does; the
runtime starts it with the store and stops it before closing the store.

Each pass is an ordinary ``delete_many({field: {"$lt": now - expireAfterSeconds}})``:
``$lt`` against a date matches only dates, and an array when any element matches, which
is exactly MongoDB's rule, and the delete reads the TTL index's range of old dates. Each
delete commits in one transaction on the store's single writer, so processes sharing the
store file may all run a monitor: a document goes once, whoever removes it.
"""

import asyncio
import contextlib
import datetime
import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pymongo.errors import OperationFailure

if TYPE_CHECKING:  # the catalog checks TTL options with this module
    from tessera.store.engine.catalog import Catalog, IndexInfo

__all__ = ["INTERVAL_SECONDS", "TTLMonitor", "check_ttl_option", "expired_filters"]

logger = logging.getLogger("tessera.store")

#: How often the monitor looks for expired documents (MongoDB's ttlMonitorSleepSecs).
INTERVAL_SECONDS = 60.0
_OPTION = "expireAfterSeconds"
_MAX_SECONDS = 2**31 - 1  # MongoDB refuses larger values
_CANNOT_CREATE_INDEX = 67


def check_ttl_option(fields: tuple[tuple[str, int], ...], options: Mapping[str, Any]) -> None:
    """Refuse an ``expireAfterSeconds`` MongoDB refuses (code 67): not a number of
    seconds in [0, 2**31 - 1], on a compound index or on ``_id``."""
    if _OPTION not in options:
        return
    seconds = options[_OPTION]
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or math.isnan(seconds):
        raise _failure(
            _CANNOT_CREATE_INDEX, f"TTL index '{_OPTION}' option must be numeric, got {seconds!r}"
        )
    if not 0 <= seconds <= _MAX_SECONDS:
        raise _failure(
            _CANNOT_CREATE_INDEX,
            f"TTL index '{_OPTION}' option must be within an acceptable range [0, "
            f"{_MAX_SECONDS}], got {seconds!r}",
        )
    if len(fields) != 1:
        raise _failure(
            _CANNOT_CREATE_INDEX,
            "TTL indexes are single-field indexes, compound indexes do not support TTL",
        )
    if fields[0][0] == "_id":
        raise _failure(_CANNOT_CREATE_INDEX, "The field '_id' cannot be a TTL index")


def _failure(code: int, message: str) -> OperationFailure:
    return OperationFailure(message, code, {"ok": 0.0, "errmsg": message, "code": code})


def expired_filters(
    catalog: "Catalog", now: datetime.datetime
) -> list[tuple[str, str, dict[str, Any]]]:
    """(database, collection, filter) of what each TTL index has expired at `now`."""
    found = []
    for (db, name), coll in sorted(catalog.collections.items()):
        for index in coll.indexes.values():
            seconds = _seconds(index)
            if seconds is not None:
                cutoff = now - datetime.timedelta(seconds=seconds)
                found.append((db, name, {index.fields[0][0]: {"$lt": cutoff}}))
    return found


def _seconds(index: "IndexInfo") -> int | None:
    seconds = index.options.get(_OPTION)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    return int(seconds)


class TTLMonitor:
    """Removes the documents TTL indexes expire, every `interval` seconds, from the
    embedded store `client` (a MongoDB server runs its own monitor: then it does nothing).
    """

    def __init__(self, client: Any, interval: float = INTERVAL_SECONDS) -> None:
        self._client = client
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the background passes (the first one right away)."""
        from tessera.store.api.client import Client  # here: the client's engine needs this module

        # By type: a MongoDB client answers any attribute (``client.engine`` is a database).
        if self._task is None and isinstance(self._client, Client):
            self._task = asyncio.create_task(self._run(), name="tessera-ttl-monitor")

    async def stop(self) -> None:
        """Stop the passes, waiting for one under way to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_once(self) -> int:
        """One pass now: the number of documents removed."""
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)  # BSON dates are UTC
        removed = 0
        for db, name, filter in expired_filters(self._client.engine.catalog, now):
            result = await self._client[db][name].delete_many(filter)
            removed += result.deleted_count
        return removed

    async def _run(self) -> None:
        while True:
            try:
                removed = await self.run_once()
                if removed:
                    logger.info("TTL indexes removed %d expired documents", removed)
            except Exception:  # the next pass tries again; the store may be busy or closing
                logger.exception("TTL monitor pass failed")
            await asyncio.sleep(self._interval)
