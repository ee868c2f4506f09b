"""``db`` inside a worker: PyMongo's async collection API, each operation sent to the server.

The server runs the operation on the scoped database of the call in progress, exactly as
for an in-process plugin, and answers with the result. Nothing here holds data: a
collection is a name, a cursor is the query that made it and its current batch.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import Any

from bson.raw_bson import RawBSONDocument

from tessera.context import no_caller
from tessera.sandbox.batches import insert_in_parts
from tessera.sandbox.channel import TooManyValues, current, current_job, encode_operation

# Methods answered with one value; find and aggregate make cursors.
COLLECTION_METHODS = frozenset(
    {
        "find_one",
        "insert_one",
        "insert_many",
        "update_one",
        "update_many",
        "replace_one",
        "delete_one",
        "delete_many",
        "count_documents",
        "estimated_document_count",
        "distinct",
        "find_one_and_update",
        "find_one_and_delete",
        "find_one_and_replace",
        "create_index",
        "create_indexes",
        "drop",
        "drop_index",
        "drop_indexes",
        "index_information",
        "rename",
        "bulk_write",
    }
)
CURSOR_METHODS = frozenset({"find", "aggregate", "list_indexes"})
DATABASE_METHODS = frozenset({"list_collection_names", "create_collection", "drop_collection"})
# Arguments that are lists of PyMongo's operation objects, which cross as plain data.
_OPERATION_LISTS = frozenset({"bulk_write", "create_indexes"})
_DOCUMENT_PARAMETERS = frozenset({"document", "replacement", "update"})
CURSOR_MODIFIERS = frozenset({"sort", "skip", "limit", "batch_size", "max_time_ms", "hint"})
#: The most documents one fetch of a cursor asks for (the server's largest batch).
BATCH = 1000


class Result:
    """A write's result (``inserted_id``, ``matched_count``, ...), as the server gave it."""

    acknowledged = True

    def __init__(self, kind: str, fields: dict[str, Any]) -> None:
        self.__kind = kind
        self.__dict__.update(fields)

    def __repr__(self) -> str:
        return f"<{self.__kind} {self.__dict__}>"


def _value(answer: Any) -> Any:
    if isinstance(answer, dict) and "__result__" in answer:
        fields = dict(answer)
        return Result(fields.pop("__result__"), fields)
    return answer


_collections_by_attribute: set[str] = set()


class RemoteDatabase:
    """``db`` (or ``db.as_admin(reason=...)``): collections of the caller's app database."""

    __slots__ = ("_admin",)

    def __init__(self, admin: str | None = None) -> None:
        self._admin = admin

    def as_admin(self, *, reason: str) -> RemoteDatabase:
        """The app database for cross-user work, when the caller may (checked now)."""
        current().request("as_admin", reason=reason)
        return RemoteDatabase(reason)

    def __getitem__(self, name: str) -> RemoteCollection:
        return RemoteCollection(self._admin, str(name))

    def current(self) -> RemoteDatabase:
        """The database of the call in progress; NotBound with no call (at import)."""
        if not current_job.get():
            raise no_caller("the database")
        return self

    def get_collection(self, name: str, **options: Any) -> RemoteCollection:
        return RemoteCollection(self._admin, str(name))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in _collections_by_attribute and current_job.get():
            # The server says whether ``db.<name>`` is a collection or a closed attribute
            # (at import, with no call to ask for, the first use says it).
            current().request("database_attribute", name=name)
            _collections_by_attribute.add(name)
        return RemoteCollection(self._admin, name)

    async def list_collection_names(self, **options: Any) -> Any:
        return self._call("list_collection_names", ())

    async def create_collection(self, name: str, **options: Any) -> RemoteCollection:
        self._call("create_collection", (name,))
        return RemoteCollection(self._admin, str(name))

    async def drop_collection(self, name: Any, **options: Any) -> Any:
        return self._call("drop_collection", (getattr(name, "name", name),))

    def _call(self, method: str, args: tuple[Any, ...]) -> Any:
        return current().request("database", admin=self._admin, method=method, args=list(args))

    def __repr__(self) -> str:
        return "<core.config.database.db: the calling app's database (sandboxed)>"


class RemoteCollection:
    """``db[name]``: each method call is one request to the server."""

    __slots__ = ("_admin", "_name")

    def __init__(self, admin: str | None, name: str) -> None:
        self._admin = admin
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def __getitem__(self, name: str) -> RemoteCollection:
        return RemoteCollection(self._admin, f"{self._name}.{name}")

    def with_options(self, **options: Any) -> RemoteCollection:
        return self

    @property
    def full_name(self) -> str:
        return f"db.{self._name}"

    def list_indexes(self, *args: Any, **kwargs: Any) -> RemoteCursor:
        return RemoteCursor(_frozen(self._target("list_indexes", args, kwargs)))

    def find(self, *args: Any, **kwargs: Any) -> RemoteCursor:
        return RemoteCursor(_frozen(self._target("find", args, kwargs)))

    def aggregate(self, *args: Any, **kwargs: Any) -> RemoteCursor:
        return RemoteCursor(_frozen(self._target("aggregate", args, kwargs)))

    def __getattr__(self, method: str) -> Any:
        if method not in COLLECTION_METHODS:
            raise AttributeError(
                f"db[{self._name!r}].{method} is not available to plugins: isolation exposes "
                "the collection API only (find, insert_one, update_one, aggregate, ...; see "
                "docs/isolation.md)"
            )

        async def call(*args: Any, **kwargs: Any) -> Any:
            if method in _OPERATION_LISTS and args:
                args = ([_operation(o) for o in args[0]], *args[1:])
            try:
                return _value(current().request("db", **self._target(method, args, kwargs)))
            except TooManyValues:
                if method != "insert_many" or not args or isinstance(args[0], Mapping):
                    raise
                return self._insert_in_parts(list(args[0]), args[1:], kwargs)

        call.__name__ = method
        return call

    def _insert_in_parts(
        self, documents: list[Any], rest: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Result:
        """``insert_many`` of a batch over what one operation holds, as several."""
        ordered = bool(kwargs.get("ordered", rest[0] if rest else True))

        def send(part: list[Any]) -> Any:
            target = self._target("insert_many", (part, *rest), kwargs)
            return current().request("db", **target)

        return Result("InsertManyResult", insert_in_parts(documents, ordered, send))

    def _target(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        return {
            "admin": self._admin,
            "coll": self._name,
            "method": method,
            "args": list(args),
            "kwargs": kwargs,
        }

    def __repr__(self) -> str:
        return f"<core.config.database.db[{self._name!r}] (sandboxed)>"


def _operation(value: Any) -> Any:
    """PyMongo's ``IndexModel``, ``InsertOne``, ``UpdateOne``... as plain data."""
    kind = type(value)
    if kind.__module__ != "pymongo.operations":
        return value
    if kind.__name__ == "IndexModel":
        return {"__index_model__": dict(value.document)}
    import inspect

    fields = {
        p: getattr(value, "_doc" if p in _DOCUMENT_PARAMETERS else "_" + p, None)
        for p in inspect.signature(kind).parameters
    }
    return {"__operation__": kind.__name__, "fields": fields}


def _frozen(query: dict[str, Any]) -> Any:
    """The query as it is now: as in-process, changing the filter after ``find()``
    changes nothing (the cursor is opened at its first read)."""
    return RawBSONDocument(encode_operation(query))


class RemoteCursor:
    """A cursor: its query and modifiers are sent with the first fetch; the server keeps
    it open for the call and hands out the documents in batches."""

    def __init__(self, query: Any) -> None:
        self._query = query
        self._chain: list[list[Any]] = []
        self._id: int | None = None  # the server's cursor, once opened; 0 once exhausted
        self._batch: deque[Any] = deque()

    def __getattr__(self, name: str) -> Any:
        if name not in CURSOR_MODIFIERS:
            raise AttributeError(f"cursor.{name} is not available to plugins")

        def modify(*args: Any, **kwargs: Any) -> RemoteCursor:
            if self._id is not None:
                raise RuntimeError(f"cannot call {name}() on a cursor already read")
            self._chain.append([name, list(args), kwargs])
            return self

        return modify

    def _fetch(self, wanted: int | None = None) -> bool:
        """Fill the batch from the server (``wanted`` more documents, when the caller
        knows how many: the server reads no more); False when the cursor is exhausted."""
        if self._id == 0:
            return False
        count = {} if wanted is None else {"count": min(max(wanted, 1), BATCH)}
        if self._id is None:
            answer = current().request("open", query=self._query, chain=self._chain, **count)
        else:
            answer = current().request("more", cursor=self._id, **count)
        self._batch.extend(answer["docs"])
        self._id = answer["cursor"]
        return bool(answer["docs"]) or self._id != 0

    async def to_list(self, length: int | None = None) -> list[Any]:
        """The remaining documents, or at most ``length`` of them (None or 0: all)."""
        if length is not None and length < 0:
            raise ValueError("to_list length must be non-negative")
        while not length or len(self._batch) < length:
            if not self._fetch(length - len(self._batch) if length else None):
                break
        count = min(length, len(self._batch)) if length else len(self._batch)
        return [self._batch.popleft() for _ in range(count)]

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        while self._batch or self._fetch():
            if self._batch:
                yield self._batch.popleft()

    async def next(self) -> Any:
        while not self._batch:
            if not self._fetch():
                raise StopAsyncIteration
        return self._batch.popleft()

    __anext__ = next

    def close(self) -> None:
        self._batch.clear()
