"""Cursors: a lazy find with PyMongo's chainable modifiers, and a cursor over ready results.

A `Cursor` runs its query on first use (``to_list``, ``async for``, ``next``); modifiers are
refused after that, as PyMongo refuses them. `ListCursor` serves
results computed elsewhere (aggregate, list_indexes) and can be awaited, which returns
itself, so Motor's and PyMongo's async styles both work.
"""

from collections import deque
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any

from pymongo.errors import InvalidOperation

from tessera.store import deadlines
from tessera.store.projection import compile_projection
from tessera.store.query import evaluates
from tessera.store.sorting import SortSpec, normalize_sort

if TYPE_CHECKING:
    from tessera.store.collection import Collection

__all__ = ["Cursor", "ListCursor", "normalize_projection"]


def normalize_projection(projection: Any) -> Mapping[str, Any] | None:
    """PyMongo's projection forms: a mapping, or a list of field names to include."""
    if projection is None or isinstance(projection, Mapping):
        return projection
    if isinstance(projection, list | tuple):
        return dict.fromkeys(projection, 1)
    raise TypeError(f"projection must be a dict or a list, not {type(projection).__name__}")


class _ResultCursor:
    """Iteration over results fetched when first needed.

    ``to_list(n)`` fetches only the ``n`` documents it returns (for ``find``, the query runs
    with that limit), so the common ``find(...).to_list(100)`` reads 100 documents, not
    every match. Iterating fetches everything that remains at once.
    """

    def __init__(self) -> None:
        self._buffer: deque[dict[str, Any]] = deque()
        self._taken = 0  # documents fetched so far
        self._started = False
        self._exhausted = False

    async def _fetch(self, offset: int, count: int | None) -> list[dict[str, Any]]:
        """At least ``count`` results (None: all) after the first ``offset``, unless fewer
        remain."""
        raise NotImplementedError

    async def _fill(self, want: int | None) -> deque[dict[str, Any]]:
        """The buffer, holding at least ``want`` documents (None: all) unless fewer remain."""
        self._started = True
        if not self._exhausted and (want is None or len(self._buffer) < want):
            count = None if want is None else want - len(self._buffer)
            batch = await self._fetch(self._taken, count)
            self._taken += len(batch)
            self._buffer.extend(batch)
            self._exhausted = count is None or len(batch) < count
        return self._buffer

    def __aiter__(self) -> "_ResultCursor":
        return self

    async def __anext__(self) -> dict[str, Any]:
        buffer = self._buffer or await self._fill(None)
        if not buffer:
            raise StopAsyncIteration
        return buffer.popleft()

    async def next(self) -> dict[str, Any]:
        """The next document; StopAsyncIteration at the end, as PyMongo's async cursor."""
        return await self.__anext__()

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        """The remaining documents, or at most `length` of them (None or 0: all)."""
        if length is not None and length < 0:
            raise ValueError("to_list length must be non-negative")
        buffer = await self._fill(length or None)
        count = len(buffer) if not length else min(length, len(buffer))
        return [buffer.popleft() for _ in range(count)]

    @property
    def alive(self) -> bool:
        return not self._exhausted or bool(self._buffer)

    def close(self) -> "_Done":
        """Drop the remaining results; awaiting the return value is optional."""
        self._started = self._exhausted = True
        self._buffer.clear()
        return _Done()


class _Done:
    """An awaitable that is already finished (so ``close()`` works awaited or not)."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield


class Cursor(_ResultCursor):
    """The result of ``collection.find(...)``; the query runs on first iteration."""

    def __init__(
        self,
        collection: "Collection",
        filter: Mapping[str, Any] | None = None,
        projection: Any = None,
        skip: int = 0,
        limit: int = 0,
        sort: Any = None,
    ) -> None:
        super().__init__()
        if filter is not None and not isinstance(filter, Mapping):
            raise TypeError(f"filter must be a dict, not {type(filter).__name__}")
        self.collection = collection
        self._filter: Mapping[str, Any] = filter or {}
        self._projection = normalize_projection(projection)
        if not evaluates(self._projection):  # patterns compile off the event loop, later
            compile_projection(self._projection)  # refuse a bad projection now
        self._sort: SortSpec = normalize_sort(sort)
        self._skip = 0
        self._limit = 0
        self._max_time_ms: int | None = None
        self.skip(skip)
        self.limit(limit)

    def _check_fresh(self) -> None:
        if self._started:
            raise InvalidOperation("cannot set options after executing query")

    def sort(self, key_or_list: Any, direction: Any = None) -> "Cursor":
        """Sort by a field and direction, or by a list of (field, direction) pairs."""
        self._check_fresh()
        self._sort = normalize_sort(key_or_list, direction)
        return self

    def skip(self, skip: int) -> "Cursor":
        """Skip the first `skip` results."""
        if not isinstance(skip, int) or isinstance(skip, bool):
            raise TypeError("skip must be an integer")
        if skip < 0:
            raise ValueError("skip must be >= 0")
        self._check_fresh()
        self._skip = skip
        return self

    def limit(self, limit: int) -> "Cursor":
        """Return at most `limit` results (0: no limit; negative: its absolute value)."""
        if not isinstance(limit, int) or isinstance(limit, bool):
            raise TypeError("limit must be an integer")
        self._check_fresh()
        self._limit = abs(limit)
        return self

    def batch_size(self, batch_size: int) -> "Cursor":
        """Accepted for compatibility; results are fetched in one go."""
        return self

    def max_time_ms(self, max_time_ms: int | None) -> "Cursor":
        """Stop the query with ExecutionTimeout (code 50) after `max_time_ms` (None or 0:
        no limit); each fetch of the cursor has that long."""
        if not isinstance(max_time_ms, int) and max_time_ms is not None:
            raise TypeError(f"max_time_ms must be an integer or None, not {type(max_time_ms)}")
        self._check_fresh()
        self._max_time_ms = deadlines.max_time_ms({"max_time_ms": max_time_ms})
        return self

    def max_await_time_ms(self, max_await_time_ms: int | None) -> "Cursor":
        """Accepted for compatibility: it only concerns tailable cursors, which the
        embedded store has none of."""
        if not isinstance(max_await_time_ms, int) and max_await_time_ms is not None:
            raise TypeError("max_await_time_ms must be an integer or None")
        self._check_fresh()
        return self

    def clone(self) -> "Cursor":
        """A fresh, unexecuted copy of this cursor."""
        copy = Cursor(
            self.collection, self._filter, self._projection, self._skip, self._limit, self._sort
        )
        return copy.max_time_ms(self._max_time_ms)

    def rewind(self) -> "Cursor":
        """Forget fetched results so the query runs again on next use."""
        self._buffer.clear()
        self._taken = 0
        self._started = self._exhausted = False
        return self

    async def explain(self) -> dict[str, Any]:
        """The plan the engine picks for this query (``queryPlanner.winningPlan``)."""
        plan = self.collection._plan(self._filter, self._sort)
        return {"queryPlanner": {"winningPlan": plan.explain()}}

    async def _fetch(self, offset: int, count: int | None) -> list[dict[str, Any]]:
        # A later batch runs the query again past what was taken: like a MongoDB cursor,
        # it is not isolated from writes made in between.
        limit = count or 0
        if self._limit:
            remaining = self._limit - offset
            if remaining <= 0:
                return []
            limit = min(remaining, limit) if limit else remaining
        return await self.collection._find(
            self._filter,
            self._projection,
            self._sort,
            self._skip + offset,
            limit,
            self._max_time_ms,
        )


class ListCursor(_ResultCursor):
    """A cursor over results a callable computes on first use; awaiting it returns it."""

    def __init__(self, compute: Callable[[], Awaitable[list[dict[str, Any]]]]) -> None:
        super().__init__()
        self._compute = compute

    async def _fetch(self, offset: int, count: int | None) -> list[dict[str, Any]]:
        # Computed whole on first use, whatever ``count`` asks; nothing remains after that.
        return await self._compute() if offset == 0 else []

    def __await__(self) -> Generator[Any, None, "ListCursor"]:
        yield from self._fill(None).__await__()
        return self
