"""A cursor handed to plugins: the store cursor's reading API, and nothing that leads back
to the collection, the database or the client behind it (the store cursor is sealed)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any

from tessera.isolation.sealed import Sealed, seal, unseal
from tessera.store.api.cursor import Cursor as StoreCursor

Ready = Callable[[], Awaitable[None]]
#: Told the cursor's sort (``sort()``'s arguments) before the query first runs.
Sorted = Callable[..., None]

# Chainable modifiers: forwarded to the store cursor, answering the scoped cursor.
_MODIFIERS = frozenset(
    {
        "sort",
        "skip",
        "limit",
        "batch_size",
        "max_time_ms",
        "max_await_time_ms",
        "hint",
        "comment",
        "allow_disk_use",
        "rewind",
    }
)


class _Open:
    """The sealed part: the store cursor, the check still to pass, the iteration."""

    __slots__ = ("inner", "iterator", "ready", "sort", "sorted")

    def __init__(self, inner: Any, ready: Ready | None, sorted: Sorted | None) -> None:
        self.inner = inner
        self.ready = ready
        self.iterator: Any = None
        self.sorted = sorted
        self.sort: tuple[Any, ...] | None = None


async def _prepared(state: _Open) -> _Open:
    """``state`` once the cursor's checks have passed (run at its first read)."""
    if state.ready is not None:
        ready, state.ready = state.ready, None
        await ready()
    if state.sorted is not None:
        sorted, state.sorted = state.sorted, None
        if state.sort is not None:
            sorted(*state.sort)
    return state


class ScopedCursor:
    """Find and aggregate results, used awaited, with ``to_list`` or with ``async for``."""

    __slots__ = ("__open",)

    def __init__(
        self,
        inner: Any,
        ready: Ready | None = None,
        sorted: Sorted | None = None,
        sort: Any = None,
    ) -> None:
        state = _Open(inner, ready, sorted)
        if sort is not None:
            state.sort = (sort,)
        self.__open: Sealed[_Open] = seal(state)

    def __getattr__(self, name: str) -> Any:
        if name not in _MODIFIERS:
            raise AttributeError(
                f"cursor.{name} is not available to plugins; cursors offer to_list(), "
                f"async for, next(), close() and {', '.join(sorted(_MODIFIERS))}()"
            )
        state = unseal(self.__open)
        method = getattr(state.inner, name)

        def modify(*args: Any, **kwargs: Any) -> ScopedCursor:
            method(*args, **kwargs)
            if name == "sort" and state.sorted is not None:
                state.sort = (*args, *kwargs.values())  # accepted by the store just now
            return self

        return modify

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("cursors cannot be copied or pickled")

    async def __prepare(self) -> _Open:
        return await _prepared(unseal(self.__open))

    def __await__(self) -> Generator[Any, None, ScopedCursor]:
        return self.__opened().__await__()

    async def __opened(self) -> ScopedCursor:
        await self.__prepare()
        return self

    async def to_list(self, length: int | None = None) -> list[Any]:
        """All remaining documents, or at most ``length`` of them."""
        state = await self.__prepare()
        return list(await state.inner.to_list(length))

    def __aiter__(self) -> ScopedCursor:
        return self

    async def __anext__(self) -> Any:
        state = unseal(self.__open)
        if state.iterator is None:
            await self.__prepare()
            state.iterator = aiter(state.inner)
        return await anext(state.iterator)

    async def next(self) -> Any:
        """The next document; StopAsyncIteration at the end."""
        return await self.__anext__()

    def clone(self) -> ScopedCursor:
        """An unevaluated copy of this cursor."""
        state = unseal(self.__open)
        clone = ScopedCursor(state.inner.clone(), state.ready, state.sorted)
        unseal(clone.__open).sort = state.sort
        return clone

    def close(self) -> Any:
        """Close the cursor (awaitable, as PyMongo's)."""
        return unseal(self.__open).inner.close()

    @property
    def alive(self) -> bool:
        return bool(unseal(self.__open).inner.alive)

    def __repr__(self) -> str:
        return "<scoped cursor>"


async def stored_batch(cursor: ScopedCursor, count: int) -> tuple[list[Any], bool] | None:
    """For the sandbox, which re-encodes what it reads for a worker: the next batch of a
    find on the embedded store, one read of at most ``count`` documents, as the store's
    ``Cursor.stored_batch`` gives it (stored BSON where it can), and whether none remain;
    None for any other cursor (aggregate, MongoDB). The cursor's checks run as for any
    read. Not a method: plugins' cursors must not offer it."""
    state = unseal(cursor._ScopedCursor__open)  # type: ignore[attr-defined]
    if type(state.inner) is not StoreCursor:
        return None
    await _prepared(state)
    batch: tuple[list[Any], bool] = await state.inner.stored_batch(count)
    return batch
