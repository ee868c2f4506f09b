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

from tessera.store.aggregation.aggregate import run_pipeline, split_leading_match
from tessera.store.aggregation.pipeline import STREAMING_STAGES
from tessera.store.bounds import deadlines
from tessera.store.engine import documents
from tessera.store.engine.stream import Stream
from tessera.store.query.filters import evaluates
from tessera.store.query.projection import compile_projection
from tessera.store.query.sorting import SortSpec, normalize_sort

if TYPE_CHECKING:
    from tessera.store.api.collection import Collection

__all__ = [
    "Cursor",
    "ListCursor",
    "PipelineCursor",
    "normalize_projection",
    "run_stages",
    "streamed_pipeline",
]

# MongoDB's batch sizes when none is asked: 101 documents first, then (for us) 1,000.
_FIRST_BATCH = 101
_BATCH = 1000
# Find modifiers an aggregation cursor lacks, as PyMongo's CommandCursor does.
_FIND_ONLY = frozenset({"sort", "skip", "limit", "explain"})


def normalize_projection(projection: Any) -> Mapping[str, Any] | None:
    """PyMongo's projection forms: a mapping, or a list of field names to include."""
    if projection is None or isinstance(projection, Mapping):
        return projection
    if isinstance(projection, list | tuple):
        return dict.fromkeys(projection, 1)
    raise TypeError(f"projection must be a dict or a list, not {type(projection).__name__}")


class _ResultCursor:
    """Iteration over results fetched a batch at a time, when first needed.

    ``async for`` and ``next`` fetch a batch when the last one is used up: ``batch_size``
    documents, else 101 for the first batch and 1,000 after, as MongoDB's defaults go;
    so memory holds one batch whatever the size of the result. ``to_list(n)`` fetches
    only the ``n`` documents it returns.
    """

    def __init__(self) -> None:
        self._buffer: deque[dict[str, Any]] = deque()
        self._taken = 0  # documents fetched so far
        self._batch = 0  # documents a batch (0: MongoDB's defaults)
        self._started = False
        self._exhausted = False

    async def _fetch(self, offset: int, count: int) -> tuple[list[dict[str, Any]], bool]:
        """At most ``count`` results after the first ``offset`` (fewer only at the end or at
        a batch's size limit), and whether none remain after them."""
        raise NotImplementedError

    def _batch_size(self) -> int:
        return self._batch or (_FIRST_BATCH if not self._taken else _BATCH)

    async def _more(self, count: int) -> None:
        """Fetch up to ``count`` more documents into the buffer."""
        self._started = True
        batch, finished = await self._fetch(self._taken, count)
        self._taken += len(batch)
        self._buffer.extend(batch)
        self._exhausted = finished

    def __aiter__(self) -> "_ResultCursor":
        return self

    async def __anext__(self) -> dict[str, Any]:
        while not self._buffer and not self._exhausted:  # a batch a pipeline emptied
            await self._more(self._batch_size())
        if not self._buffer:
            raise StopAsyncIteration
        return self._buffer.popleft()

    async def next(self) -> dict[str, Any]:
        """The next document; StopAsyncIteration at the end, as PyMongo's async cursor."""
        return await self.__anext__()

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        """The remaining documents, or at most `length` of them (None or 0: all)."""
        if length is not None and length < 0:
            raise ValueError("to_list length must be non-negative")
        buffer = self._buffer
        while not self._exhausted and (not length or len(buffer) < length):
            await self._more(length - len(buffer) if length else self._batch_size())
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
        self._stream = Stream()
        self._stages: list[Mapping[str, Any]] = []  # applied to each batch (`PipelineCursor`)
        if filter is not None and not isinstance(filter, Mapping):
            raise TypeError(f"filter must be a dict, not {type(filter).__name__}")
        for value, what in ((filter, "filter"), (projection, "projection"), (sort, "sort")):
            documents.check_argument(value, what)
        self.collection = collection
        self._filter: Mapping[str, Any] = filter or {}
        self._projection = normalize_projection(projection)
        if not evaluates(self._projection):  # patterns compile off the event loop, later
            compile_projection(self._projection)  # refuse a bad projection now
        self._sort: SortSpec = normalize_sort(sort)
        self._skip = 0
        self._limit = 0
        self._max_time_ms: int | None = None
        Cursor.skip(self, skip)  # not self.skip: an aggregation cursor has none
        Cursor.limit(self, limit)

    def _check_fresh(self) -> None:
        if self._started:
            raise InvalidOperation("cannot set options after executing query")

    def sort(self, key_or_list: Any, direction: Any = None) -> "Cursor":
        """Sort by a field and direction, or by a list of (field, direction) pairs."""
        self._check_fresh()
        documents.check_argument(key_or_list, "sort")
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
        """Fetch `batch_size` documents a batch (0: MongoDB's default sizes)."""
        if not isinstance(batch_size, int) or isinstance(batch_size, bool):
            raise TypeError("batch_size must be an integer")
        if batch_size < 0:
            raise ValueError("batch_size must be >= 0")
        self._check_fresh()
        self._batch = batch_size
        return self

    def allow_disk_use(self, allow_disk_use: bool) -> "Cursor":
        """Let a sort no index gives go past MongoDB's 100 MB limit by sorting through
        temporary files (see `spill`), rather than fail with code 292."""
        if not isinstance(allow_disk_use, bool):
            raise TypeError("allow_disk_use must be a bool")
        self._check_fresh()
        self._stream.disk = allow_disk_use
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
        copy.max_time_ms(self._max_time_ms).batch_size(self._batch)
        return copy.allow_disk_use(self._stream.disk)

    def rewind(self) -> "Cursor":
        """Forget fetched results so the query runs again on next use."""
        self._buffer.clear()
        self._taken = 0
        self._started = self._exhausted = False
        self._stream = Stream(disk=self._stream.disk)
        return self

    async def stored_batch(self, count: int) -> tuple[list[Any], bool]:
        """At most ``count`` next documents in one read, which the store bounds at
        `stream.BATCH_BYTES` (``to_list`` reads on until it has them all), and whether
        none remain. With no projection, rows read straight from an index range come as
        their stored BSON bytes, not decoded: for a reader that only encodes them again
        (the sandbox, answering a worker), decoding them would be wasted."""
        if not self._buffer:
            self._stream.stored = self._projection is None and not self._stages
            await self._more(count)
        taken = [self._buffer.popleft() for _ in range(min(count, len(self._buffer)))]
        return taken, self._exhausted and not self._buffer

    async def explain(self) -> dict[str, Any]:
        """The plan the engine picks for this query (``queryPlanner.winningPlan``)."""
        plan = self.collection._plan(self._filter, self._sort)
        return {"queryPlanner": {"winningPlan": plan.explain()}}

    async def _fetch(self, offset: int, count: int) -> tuple[list[dict[str, Any]], bool]:
        # Each batch resumes where the last stopped (see `stream`): like a MongoDB cursor,
        # it is not isolated from writes made in between.
        remaining = self._limit - offset if self._limit else 0
        if self._limit:
            count = min(count, remaining)
        if count <= 0 or self._stream.done:
            return [], True
        found = await self.collection._find_batch(
            self._stream,
            self._filter,
            self._projection,
            self._sort,
            self._skip,
            count,
            remaining,
            self._max_time_ms,
            self._stages,
        )
        return found, self._stream.done or (self._limit > 0 and len(found) >= remaining)


class ListCursor(_ResultCursor):
    """A cursor over results a callable computes on first use; awaiting it returns it."""

    def __init__(self, compute: Callable[[], Awaitable[list[dict[str, Any]]]]) -> None:
        super().__init__()
        self._compute = compute

    async def _fetch(self, offset: int, count: int) -> tuple[list[dict[str, Any]], bool]:
        # Computed whole on first use, whatever ``count`` asks; nothing remains after that.
        return (await self._compute() if offset == 0 else []), True

    def __await__(self) -> Generator[Any, None, "ListCursor"]:
        if not self._started:
            yield from self._more(0).__await__()
        return self


class PipelineCursor(Cursor):
    """An aggregation streamed a batch at a time: its leading ``$match`` and ``$sort`` read
    as a find, then stages that each take documents one at a time (see
    `pipeline.STREAMING_STAGES`) run over each batch. Awaiting it returns it."""

    def __init__(
        self,
        collection: "Collection",
        filter: Mapping[str, Any] | None,
        sort: SortSpec | None,
        stages: list[Mapping[str, Any]],
        batch_size: int = 0,
        allow_disk_use: bool = False,
    ) -> None:
        super().__init__(collection, filter, sort=sort)
        self._stages = stages
        self.batch_size(batch_size).allow_disk_use(allow_disk_use)

    def __await__(self) -> Generator[Any, None, "PipelineCursor"]:
        # As PyMongo's aggregate command, awaiting runs the first batch (and its errors).
        if not self._started:
            yield from self._more(self._batch_size()).__await__()
        return self

    def __getattribute__(self, name: str) -> Any:
        if name in _FIND_ONLY:  # an aggregation's order and slices are its stages
            raise AttributeError(f"aggregation cursors have no {name}(); use pipeline stages")
        return super().__getattribute__(name)

    def clone(self) -> "PipelineCursor":
        """A fresh, unexecuted copy of this cursor."""
        copy = PipelineCursor(
            self.collection,
            self._filter,
            self._sort,
            self._stages,
            self._batch,
            self._stream.disk,
        )
        copy.max_time_ms(self._max_time_ms)
        return copy


def streamed_pipeline(
    stages: list[Mapping[str, Any]],
) -> tuple[dict[str, Any] | None, SortSpec | None, list[Mapping[str, Any]]] | None:
    """The filter, sort and per-document stages of a pipeline that streams, or None."""
    filter, rest = split_leading_match(stages)
    sort: SortSpec | None = None
    if rest and isinstance(rest[0], Mapping) and list(rest[0]) == ["$sort"]:
        sort = normalize_sort(rest[0]["$sort"])
        rest = rest[1:]
    if all(isinstance(s, Mapping) and len(s) == 1 and set(s) <= STREAMING_STAGES for s in rest):
        return filter, sort, rest
    return None


def run_stages(docs: list[dict[str, Any]], stages: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One batch through a streamed pipeline's stages."""
    return run_pipeline(docs, stages, resolve=_no_collections)


def _no_collections(name: str) -> list[dict[str, Any]]:
    raise AssertionError("streamed stages read no other collection")
