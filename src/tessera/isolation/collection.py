"""The collection handed to plugins during a call: PyMongo's async collection API, with
every operation checked against the caller's scope before it reaches the store."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pymongo.operations import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne

from tessera.isolation.cursor import ScopedCursor
from tessera.isolation.indexes import UserIndexes
from tessera.isolation.ownership import claim, document_problem, update_problem
from tessera.isolation.pipeline import boundary_problem, collection_problem, pipeline_problem
from tessera.isolation.policy import Policy
from tessera.isolation.scope import (
    SERVER_CODE_PROBLEM,
    pins_by_equality,
    pins_user,
    runs_server_code,
)

if TYPE_CHECKING:
    from tessera.isolation.database import ScopedDatabase

PIN = "the filter must include {'user_id': user_id}"
UPSERT_PIN = "an upsert's filter must pin user_id by equality: {'user_id': user_id}"
COLLATION = "collation is not allowed: it could make {'user_id': ...} match other users"
WHOLE = "{op}() acts on every user's documents; use {fix} or db.as_admin(reason=...)"


class ScopedCollection:
    """A collection of the caller's app database, limited to the caller's documents unless
    the manifest shares it or the call escalated."""

    __slots__ = ("__database", "__indexes", "__inner", "__policy")

    def __init__(
        self, inner: Any, policy: Policy, indexes: UserIndexes, database: ScopedDatabase
    ) -> None:
        self.__inner = inner
        self.__policy = policy
        self.__indexes = indexes
        self.__database = database

    # What the collection is

    @property
    def name(self) -> str:
        return str(self.__inner.name)

    @property
    def full_name(self) -> str:
        return str(self.__inner.full_name)

    @property
    def database(self) -> ScopedDatabase:
        """The app database, scoped as this collection is."""
        return self.__database

    def __getitem__(self, name: str) -> ScopedCollection:
        return self.__database[f"{self.name}.{name}"]

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"db[{self.name!r}].{name} is not available to plugins: isolation exposes the "
            "collection API only (find, insert_one, update_one, aggregate, ...; see "
            "docs/isolation.md)"
        )

    def __repr__(self) -> str:
        return f"<collection {self.full_name}, scoped to the caller>"

    def with_options(self, **options: Any) -> ScopedCollection:
        """The same collection with other read or write options."""
        return ScopedCollection(
            self.__inner.with_options(**options), self.__policy, self.__indexes, self.__database
        )

    # Reads

    def find(self, filter: Any = None, *args: Any, **kwargs: Any) -> ScopedCursor:
        """Matching documents (PyMongo's ``find``); the filter must pin ``user_id``."""
        self.__check("find", self.__filter_problem(filter, kwargs))
        return ScopedCursor(self.__inner.find(filter, *args, **kwargs), self.__ready)

    async def find_one(self, filter: Any = None, *args: Any, **kwargs: Any) -> Any:
        """The first matching document, or None."""
        self.__check("find_one", self.__filter_problem(filter, kwargs))
        await self.__ready()
        return await self.__inner.find_one(filter, *args, **kwargs)

    async def count_documents(self, filter: Any, *args: Any, **kwargs: Any) -> int:
        """How many documents match."""
        self.__check("count_documents", self.__filter_problem(filter, kwargs))
        await self.__ready()
        return int(await self.__inner.count_documents(filter, *args, **kwargs))

    async def estimated_document_count(self, **kwargs: Any) -> int:
        """The size of the collection: shared collections only (it counts every user)."""
        problem = None
        if self.__scoped:
            problem = WHOLE.format(
                op="estimated_document_count", fix="count_documents({'user_id': user_id})"
            )
        self.__check("estimated_document_count", problem)
        return int(await self.__inner.estimated_document_count(**kwargs))

    async def distinct(self, key: str, filter: Any = None, *args: Any, **kwargs: Any) -> list[Any]:
        """Distinct values of ``key`` among matching documents."""
        self.__check("distinct", self.__filter_problem(filter, kwargs))
        await self.__ready()
        return list(await self.__inner.distinct(key, filter, *args, **kwargs))

    def aggregate(self, pipeline: Any, *args: Any, **kwargs: Any) -> ScopedCursor:
        """Run a pipeline; it must start with a ``$match`` pinning ``user_id``."""
        boundary = boundary_problem(pipeline)
        if boundary is not None:
            self.__policy.refuse(self.__label("aggregate"), boundary)
        problem = self.__collation_problem(kwargs) or pipeline_problem(
            pipeline, self.name, self.__policy
        )
        self.__check("aggregate", problem)
        return ScopedCursor(self.__inner.aggregate(pipeline, *args, **kwargs), self.__ready)

    # Writes

    async def insert_one(self, document: Any, *args: Any, **kwargs: Any) -> Any:
        """Insert a document; it gets the caller's ``user_id`` if it has none."""
        self.__check("insert_one", self.__document_problem(document))
        self.__claim(document)
        await self.__ready()
        return await self.__inner.insert_one(document, *args, **kwargs)

    async def insert_many(self, documents: Iterable[Any], *args: Any, **kwargs: Any) -> Any:
        """Insert documents; each gets the caller's ``user_id`` if it has none."""
        documents = list(documents)
        problems = (self.__document_problem(d) for d in documents)
        self.__check("insert_many", next((p for p in problems if p), None))
        for document in documents:
            self.__claim(document)
        await self.__ready()
        return await self.__inner.insert_many(documents, *args, **kwargs)

    async def update_one(
        self, filter: Any, update: Any, upsert: bool = False, **kwargs: Any
    ) -> Any:
        """Update the first matching document; ``user_id`` may not change."""
        self.__check("update_one", self.__update_problem(filter, update, upsert, kwargs))
        await self.__ready()
        return await self.__inner.update_one(filter, update, upsert=upsert, **kwargs)

    async def update_many(
        self, filter: Any, update: Any, upsert: bool = False, **kwargs: Any
    ) -> Any:
        """Update every matching document; ``user_id`` may not change."""
        self.__check("update_many", self.__update_problem(filter, update, upsert, kwargs))
        await self.__ready()
        return await self.__inner.update_many(filter, update, upsert=upsert, **kwargs)

    async def replace_one(
        self, filter: Any, replacement: Any, upsert: bool = False, **kwargs: Any
    ) -> Any:
        """Replace the first matching document; the replacement stays the caller's."""
        problem = self.__replace_problem(filter, replacement, upsert, kwargs)
        self.__check("replace_one", problem)
        self.__claim(replacement)
        await self.__ready()
        return await self.__inner.replace_one(filter, replacement, upsert=upsert, **kwargs)

    async def delete_one(self, filter: Any, *args: Any, **kwargs: Any) -> Any:
        """Delete the first matching document."""
        self.__check("delete_one", self.__filter_problem(filter, kwargs))
        await self.__ready()
        return await self.__inner.delete_one(filter, *args, **kwargs)

    async def delete_many(self, filter: Any, *args: Any, **kwargs: Any) -> Any:
        """Delete every matching document."""
        self.__check("delete_many", self.__filter_problem(filter, kwargs))
        await self.__ready()
        return await self.__inner.delete_many(filter, *args, **kwargs)

    async def find_one_and_delete(self, filter: Any, *args: Any, **kwargs: Any) -> Any:
        """Delete the first matching document and return it."""
        self.__check("find_one_and_delete", self.__filter_problem(filter, kwargs))
        await self.__ready()
        return await self.__inner.find_one_and_delete(filter, *args, **kwargs)

    async def find_one_and_update(self, filter: Any, update: Any, *args: Any, **kwargs: Any) -> Any:
        """Update the first matching document and return it; ``user_id`` may not change."""
        upsert = _upsert_argument(args, kwargs)
        problem = self.__update_problem(filter, update, upsert, kwargs)
        self.__check("find_one_and_update", problem)
        await self.__ready()
        return await self.__inner.find_one_and_update(filter, update, *args, **kwargs)

    async def find_one_and_replace(
        self, filter: Any, replacement: Any, *args: Any, **kwargs: Any
    ) -> Any:
        """Replace the first matching document and return it."""
        upsert = _upsert_argument(args, kwargs)
        problem = self.__replace_problem(filter, replacement, upsert, kwargs)
        self.__check("find_one_and_replace", problem)
        self.__claim(replacement)
        await self.__ready()
        return await self.__inner.find_one_and_replace(filter, replacement, *args, **kwargs)

    async def bulk_write(self, requests: Iterable[Any], *args: Any, **kwargs: Any) -> Any:
        """Run PyMongo write requests, each checked as its own method would be."""
        requests = list(requests)
        if any(getattr(r, "_namespace", None) is not None for r in requests):
            self.__policy.refuse(
                self.__label("bulk_write"), "requests may not name another namespace"
            )
        problems = (self.__request_problem(r) for r in requests)
        self.__check("bulk_write", next((p for p in problems if p), None))
        for request in requests:
            if isinstance(request, InsertOne | ReplaceOne):
                self.__claim(request._doc)
        await self.__ready()
        return await self.__inner.bulk_write(requests, *args, **kwargs)

    # Indexes and the collection itself

    async def create_index(self, keys: Any, **kwargs: Any) -> str:
        """Create an index; returns its name."""
        self.__check("create_index", None)
        return str(await self.__inner.create_index(keys, **kwargs))

    async def create_indexes(self, indexes: Any, **kwargs: Any) -> list[str]:
        """Create several indexes (``IndexModel`` list)."""
        self.__check("create_indexes", None)
        return list(await self.__inner.create_indexes(indexes, **kwargs))

    async def drop_index(self, index_or_name: Any, **kwargs: Any) -> None:
        """Drop one index."""
        self.__check("drop_index", None)
        await self.__inner.drop_index(index_or_name, **kwargs)

    async def drop_indexes(self, **kwargs: Any) -> None:
        """Drop every index but ``_id``'s."""
        self.__check("drop_indexes", None)
        await self.__inner.drop_indexes(**kwargs)

    def list_indexes(self, **kwargs: Any) -> ScopedCursor:
        """The index documents, as a cursor."""
        self.__check("list_indexes", None)
        return ScopedCursor(self.__inner.list_indexes(**kwargs))

    async def index_information(self, **kwargs: Any) -> dict[str, Any]:
        """Index name to index description."""
        self.__check("index_information", None)
        return dict(await self.__inner.index_information(**kwargs))

    async def drop(self, **kwargs: Any) -> None:
        """Drop the collection: shared collections only (it holds every user's documents)."""
        problem = None
        if self.__scoped:
            problem = WHOLE.format(op="drop", fix="delete_many({'user_id': user_id})")
        self.__check("drop", problem)
        await self.__inner.drop(**kwargs)

    async def rename(self, new_name: str, *args: Any, **kwargs: Any) -> None:
        """Rename the collection: only under escalation (it moves every user's documents)."""
        named = collection_problem(new_name)
        if named is not None:
            self.__policy.refuse(self.__label("rename"), named)
        problem = None
        if self.__policy.escalation is None:
            problem = "rename() moves every user's documents; use db.as_admin(reason=...)"
        self.__check("rename", problem)
        await self.__inner.rename(new_name, *args, **kwargs)

    # The checks

    @property
    def __scoped(self) -> bool:
        return self.__policy.scoped(self.name)

    def __label(self, operation: str) -> str:
        return f"db[{self.name!r}].{operation}()"

    def __check(self, operation: str, problem: str | None) -> None:
        label = self.__label(operation)
        self.__policy.escalated(label)
        if problem is not None:
            self.__policy.violation(label, problem)

    async def __ready(self) -> None:
        if self.__scoped:
            await self.__indexes.ensure(self.__inner)

    def __claim(self, document: Any) -> None:
        if self.__scoped:
            claim(document, self.__policy.user_id)

    def __collation_problem(self, kwargs: Mapping[str, Any]) -> str | None:
        return COLLATION if self.__scoped and kwargs.get("collation") is not None else None

    def __filter_problem(self, filter: Any, kwargs: Mapping[str, Any]) -> str | None:
        if runs_server_code(filter):
            return SERVER_CODE_PROBLEM
        if not self.__scoped:
            return None
        if not pins_user(filter, self.__policy.user_id):
            return PIN
        return self.__collation_problem(kwargs)

    def __document_problem(self, document: Any) -> str | None:
        return document_problem(document, self.__policy.user_id) if self.__scoped else None

    def __update_problem(
        self, filter: Any, update: Any, upsert: bool, kwargs: Mapping[str, Any]
    ) -> str | None:
        problem = self.__filter_problem(filter, kwargs)
        if problem is None and self.__scoped:
            problem = update_problem(update, self.__policy.user_id)
        if problem is None and runs_server_code(update):
            problem = SERVER_CODE_PROBLEM
        return problem or self.__upsert_problem(filter, upsert)

    def __replace_problem(
        self, filter: Any, replacement: Any, upsert: bool, kwargs: Mapping[str, Any]
    ) -> str | None:
        return (
            self.__filter_problem(filter, kwargs)
            or self.__document_problem(replacement)
            or self.__upsert_problem(filter, upsert)
        )

    def __upsert_problem(self, filter: Any, upsert: bool) -> str | None:
        if upsert and self.__scoped and not pins_by_equality(filter, self.__policy.user_id):
            return UPSERT_PIN
        return None

    def __request_problem(self, request: Any) -> str | None:
        collation = {"collation": getattr(request, "_collation", None)}
        if isinstance(request, InsertOne):
            return self.__document_problem(request._doc)
        if isinstance(request, UpdateOne | UpdateMany):
            return self.__update_problem(
                request._filter, request._doc, bool(request._upsert), collation
            )
        if isinstance(request, ReplaceOne):
            return self.__replace_problem(
                request._filter, request._doc, bool(request._upsert), collation
            )
        if isinstance(request, DeleteOne | DeleteMany):
            return self.__filter_problem(request._filter, collation)
        return f"{type(request).__name__} is not a PyMongo write request"


def _upsert_argument(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bool:
    # find_one_and_update/replace(filter, doc, projection, sort, upsert, ...)
    if "upsert" in kwargs:
        return bool(kwargs["upsert"])
    return len(args) > 2 and bool(args[2])
