"""A cursor handed to plugins: the store cursor's reading API, and nothing that leads back
to the collection, the database or the client behind it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any

Ready = Callable[[], Awaitable[None]]

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


class ScopedCursor:
    """Find and aggregate results, used awaited, with ``to_list`` or with ``async for``."""

    __slots__ = ("__inner", "__iterator", "__ready")

    def __init__(self, inner: Any, ready: Ready | None = None) -> None:
        self.__inner = inner
        self.__ready = ready
        self.__iterator: Any = None

    def __getattr__(self, name: str) -> Any:
        if name not in _MODIFIERS:
            raise AttributeError(
                f"cursor.{name} is not available to plugins; cursors offer to_list(), "
                f"async for, next(), close() and {', '.join(sorted(_MODIFIERS))}()"
            )
        method = getattr(self.__inner, name)

        def modify(*args: Any, **kwargs: Any) -> ScopedCursor:
            method(*args, **kwargs)
            return self

        return modify

    async def __prepare(self) -> None:
        if self.__ready is not None:
            ready, self.__ready = self.__ready, None
            await ready()

    def __await__(self) -> Generator[Any, None, ScopedCursor]:
        return self.__opened().__await__()

    async def __opened(self) -> ScopedCursor:
        await self.__prepare()
        return self

    async def to_list(self, length: int | None = None) -> list[Any]:
        """All remaining documents, or at most ``length`` of them."""
        await self.__prepare()
        return list(await self.__inner.to_list(length))

    def __aiter__(self) -> ScopedCursor:
        return self

    async def __anext__(self) -> Any:
        if self.__iterator is None:
            await self.__prepare()
            self.__iterator = aiter(self.__inner)
        return await anext(self.__iterator)

    async def next(self) -> Any:
        """The next document; StopAsyncIteration at the end."""
        return await self.__anext__()

    def clone(self) -> ScopedCursor:
        """An unevaluated copy of this cursor."""
        return ScopedCursor(self.__inner.clone(), self.__ready)

    def close(self) -> Any:
        """Close the cursor (awaitable, as PyMongo's)."""
        return self.__inner.close()

    @property
    def alive(self) -> bool:
        return bool(self.__inner.alive)

    def __repr__(self) -> str:
        return "<scoped cursor>"
