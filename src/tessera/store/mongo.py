"""The MongoDB backend: PyMongo's async client, with the few shims Motor-era plugins need.

Nothing is translated: every call goes to PyMongo. The shims only let Motor's forms keep
working: ``coll.aggregate(p)`` and ``coll.list_indexes()`` give a cursor usable without
``await`` (``.to_list()``, ``async for``) as well as with it.
"""

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

__all__ = ["Client", "Collection", "Database", "PendingCursor", "open_mongo_client"]


class _Cursor(Protocol):
    def __aiter__(self) -> AsyncIterator[Any]: ...

    async def to_list(self, length: int | None = None) -> list[Any]: ...


_C = TypeVar("_C", bound=_Cursor)


class PendingCursor(Generic[_C]):
    """A cursor that is still being opened, usable both ways.

    PyMongo's async API awaits it (``await coll.aggregate(p)``); Motor's used it at once
    (``await coll.aggregate(p).to_list(None)``, ``async for d in coll.aggregate(p)``).
    The cursor is opened once, on first use.
    """

    def __init__(self, opener: Callable[[], Awaitable[_C]]) -> None:
        self._opener = opener
        self._cursor: _C | None = None

    async def _open(self) -> _C:
        if self._cursor is None:
            self._cursor = await self._opener()
        return self._cursor

    def __await__(self) -> Generator[Any, None, _C]:
        return self._open().__await__()

    async def to_list(self, length: int | None = None) -> list[Any]:
        """All remaining documents, or at most ``length`` of them."""
        return await (await self._open()).to_list(length)

    async def __aiter__(self) -> AsyncIterator[Any]:
        async for document in await self._open():
            yield document


class Collection:
    """A PyMongo async collection whose ``aggregate`` and ``list_indexes`` also work Motor's way."""

    def __init__(self, collection: AsyncCollection[Any]) -> None:
        self._collection = collection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    def __getitem__(self, name: str) -> "Collection":
        return Collection(self._collection[name])

    def __repr__(self) -> str:
        return f"Collection({self._collection!r})"

    def with_options(self, **options: Any) -> "Collection":
        """The same collection with other read or write options."""
        return Collection(self._collection.with_options(**options))

    def aggregate(self, pipeline: Sequence[Mapping[str, Any]], **kwargs: Any) -> PendingCursor[Any]:
        """Run an aggregation pipeline; await the result or use it as a cursor."""
        return PendingCursor(lambda: self._collection.aggregate(pipeline, **kwargs))

    def list_indexes(self, **kwargs: Any) -> PendingCursor[Any]:
        """The collection's index documents; await the result or use it as a cursor."""
        return PendingCursor(lambda: self._collection.list_indexes(**kwargs))


class Database:
    """A PyMongo async database whose collections carry the Motor shims."""

    def __init__(self, database: AsyncDatabase[Any]) -> None:
        self._database = database

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._database, name)
        # PyMongo answers unknown attributes with a collection of that name (``db.users``).
        return Collection(value) if isinstance(value, AsyncCollection) else value

    def __getitem__(self, name: str) -> Collection:
        return Collection(self._database[name])

    def __repr__(self) -> str:
        return f"Database({self._database!r})"

    def get_collection(self, name: str, **options: Any) -> Collection:
        """The collection called ``name``."""
        return Collection(self._database.get_collection(name, **options))

    def with_options(self, **options: Any) -> "Database":
        """The same database with other read or write options."""
        return Database(self._database.with_options(**options))


class Client:
    """PyMongo's ``AsyncMongoClient`` whose databases carry the Motor shims."""

    def __init__(self, client: AsyncMongoClient[Any]) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._client, name)
        return Database(value) if isinstance(value, AsyncDatabase) else value

    def __getitem__(self, name: str) -> Database:
        return Database(self._client[name])

    def __repr__(self) -> str:
        return f"Client({self._client!r})"

    def get_database(self, name: str | None = None, **options: Any) -> Database:
        """The database called ``name``, or the URI's default database."""
        return Database(self._client.get_database(name, **options))

    def get_default_database(self, default: str | None = None, **options: Any) -> Database:
        """The database named in the URI, or ``default``."""
        return Database(self._client.get_default_database(default, **options))


def open_mongo_client(uri: str) -> Client:
    """A client on the MongoDB at ``uri``.

    Datetimes come back naive UTC (``tz_aware=False``), as they do from the embedded store.
    """
    return Client(AsyncMongoClient(uri, tz_aware=False))
