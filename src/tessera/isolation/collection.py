"""The collection handed to plugins during a call: PyMongo's async collection API, with
every operation checked against the caller's scope before it reaches the store.

Each operation first takes a private copy of its arguments (:mod:`.snapshot`), checks the
copy (:mod:`.rules`) and runs the copy, so nothing the plugin changes afterwards, or
meanwhile, reaches the store unchecked. The store handle and the caller's policy are
sealed (:mod:`.sealed`): no attribute of the collection leads to them.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from pymongo.errors import OperationFailure
from pymongo.operations import InsertOne, ReplaceOne

from tessera.isolation import rules
from tessera.isolation.cursor import Ready, ScopedCursor, Sorted
from tessera.isolation.indexes import UserIndexes
from tessera.isolation.modes import CollectionModes
from tessera.isolation.ownership import claim
from tessera.isolation.pipeline import boundary_problem, collection_problem, pipeline_problem
from tessera.isolation.pipeline import targets as pipeline_targets
from tessera.isolation.policy import Policy
from tessera.isolation.scope import pin_first
from tessera.isolation.sealed import Sealed, seal, unseal
from tessera.isolation.snapshot import (
    snapshot,
    snapshot_index,
    snapshot_insert,
    snapshot_model,
    snapshot_request,
)

if TYPE_CHECKING:
    from tessera.isolation.database import ScopedDatabase


class Scope(NamedTuple):
    """What a scoped collection acts with: its store collection and the call's rules."""

    inner: Any
    policy: Policy
    indexes: UserIndexes
    modes: CollectionModes
    database: ScopedDatabase


class ScopedCollection:
    """A collection of the caller's app database, limited to the caller's documents unless
    the manifest shares it or the call escalated."""

    __slots__ = ("__name", "__scope")

    def __init__(self, name: str, scope: Scope) -> None:
        self.__name = name
        self.__scope: Sealed[Scope] = seal(scope)

    # What the collection is

    @property
    def name(self) -> str:
        return self.__name

    @property
    def full_name(self) -> str:
        return f"{self.database.name}.{self.__name}"

    @property
    def database(self) -> ScopedDatabase:
        """The app database, scoped as this collection is."""
        return unseal(self.__scope).database

    def __getitem__(self, name: str) -> ScopedCollection:
        return self.database[f"{self.__name}.{name}"]

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"db[{self.__name!r}].{name} is not available to plugins: isolation exposes the "
            "collection API only (find, insert_one, update_one, aggregate, ...; see "
            "docs/isolation.md)"
        )

    def __repr__(self) -> str:
        return f"<collection {self.full_name}, scoped to the caller>"

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("scoped collections cannot be copied or pickled")

    def with_options(self, **options: Any) -> ScopedCollection:
        """The same collection with other read or write options."""
        scope = unseal(self.__scope)
        return ScopedCollection(
            self.__name, scope._replace(inner=scope.inner.with_options(**options))
        )

    # Reads

    def find(self, filter: Any = None, *args: Any, **kwargs: Any) -> ScopedCursor:
        """Matching documents (PyMongo's ``find``); the filter must pin ``user_id``."""
        filter = self.__filtered("find", filter, kwargs)
        inner = self.__inner.find(filter, *args, **kwargs)
        sorted = self.__sorted() if _pins(filter) else None
        return ScopedCursor(inner, self.__ready("find"), sorted, kwargs.get("sort"))

    async def find_one(self, filter: Any = None, *args: Any, **kwargs: Any) -> Any:
        """The first matching document, or None."""
        filter = self.__filtered("find_one", filter, kwargs)
        await self.__prepare("find_one")
        return await self.__inner.find_one(filter, *args, **kwargs)

    async def count_documents(self, filter: Any, *args: Any, **kwargs: Any) -> int:
        """How many documents match."""
        filter = self.__filtered("count_documents", filter, kwargs)
        await self.__prepare("count_documents")
        return int(await self.__inner.count_documents(filter, *args, **kwargs))

    async def estimated_document_count(self, **kwargs: Any) -> int:
        """The size of the collection: shared collections only (it counts every user)."""
        fix = "count_documents({'user_id': user_id})"
        self.__check("estimated_document_count", self.__whole("estimated_document_count", fix))
        await self.__prepare("estimated_document_count")
        return int(await self.__inner.estimated_document_count(**kwargs))

    async def distinct(self, key: str, filter: Any = None, *args: Any, **kwargs: Any) -> list[Any]:
        """Distinct values of ``key`` among matching documents."""
        filter = self.__filtered("distinct", filter, kwargs)
        await self.__prepare("distinct")
        return list(await self.__inner.distinct(str(key), filter, *args, **kwargs))

    def aggregate(self, pipeline: Any, *args: Any, **kwargs: Any) -> ScopedCursor:
        """Run a pipeline; it must start with a ``$match`` pinning ``user_id``."""
        pipeline = snapshot(pipeline, "pipeline")
        policy = self.__policy
        boundary = boundary_problem(pipeline)
        if boundary is not None:
            policy.refuse(self.__label("aggregate"), boundary)
        problem = rules.collation_problem(policy, self.__name, kwargs) or pipeline_problem(
            pipeline, self.__name, policy
        )
        self.__check("aggregate", problem, policy)
        others = [t for _, t in pipeline_targets(pipeline) if isinstance(t, str)]
        ready = self.__ready("aggregate", others)
        if problem is None and policy.scoped(self.__name):  # it starts with a pinning $match
            pipeline[0] = {"$match": self.__to_run(pipeline[0]["$match"], problem, policy)}
        return ScopedCursor(self.__inner.aggregate(pipeline, *args, **kwargs), ready)

    # Writes

    async def insert_one(self, document: Any, *args: Any, **kwargs: Any) -> Any:
        """Insert a document; it gets the caller's ``user_id`` if it has none."""
        self.__claim(document)
        copy = snapshot_insert(document)
        self.__claim(copy)  # the plugin's own document may not take it (a read-only mapping)
        self.__check("insert_one", rules.insert_problem(self.__policy, self.__name, copy))
        await self.__prepare("insert_one")
        return await self.__inner.insert_one(copy, *args, **kwargs)

    async def insert_many(self, documents: Iterable[Any], *args: Any, **kwargs: Any) -> Any:
        """Insert documents; each gets the caller's ``user_id`` if it has none."""
        originals = list(documents)
        for document in originals:
            self.__claim(document)
        copies = [snapshot_insert(d) for d in originals]
        for copy in copies:
            self.__claim(copy)
        problems = (rules.insert_problem(self.__policy, self.__name, d) for d in copies)
        self.__check("insert_many", next((p for p in problems if p), None))
        await self.__prepare("insert_many")
        return await self.__inner.insert_many(copies, *args, **kwargs)

    async def update_one(
        self, filter: Any, update: Any, upsert: bool = False, **kwargs: Any
    ) -> Any:
        """Update the first matching document; ``user_id`` may not change."""
        upsert = bool(upsert)
        filter, update = self.__changed("update_one", filter, update, upsert, kwargs)
        await self.__prepare("update_one")
        return await self.__inner.update_one(filter, update, upsert=upsert, **kwargs)

    async def update_many(
        self, filter: Any, update: Any, upsert: bool = False, **kwargs: Any
    ) -> Any:
        """Update every matching document; ``user_id`` may not change."""
        upsert = bool(upsert)
        filter, update = self.__changed("update_many", filter, update, upsert, kwargs)
        await self.__prepare("update_many")
        return await self.__inner.update_many(filter, update, upsert=upsert, **kwargs)

    async def replace_one(
        self, filter: Any, replacement: Any, upsert: bool = False, **kwargs: Any
    ) -> Any:
        """Replace the first matching document; the replacement stays the caller's."""
        self.__claim(replacement)
        filter, replacement = snapshot(filter, "filter"), snapshot(replacement, "replacement")
        upsert = bool(upsert)
        self.__claim(replacement)
        policy = self.__policy
        problem = rules.replace_problem(policy, self.__name, filter, replacement, upsert, kwargs)
        self.__check("replace_one", problem, policy)
        await self.__prepare("replace_one")
        filter = self.__to_run(filter, problem, policy)
        return await self.__inner.replace_one(filter, replacement, upsert=upsert, **kwargs)

    async def delete_one(self, filter: Any, *args: Any, **kwargs: Any) -> Any:
        """Delete the first matching document."""
        filter = self.__filtered("delete_one", filter, kwargs)
        await self.__prepare("delete_one")
        return await self.__inner.delete_one(filter, *args, **kwargs)

    async def delete_many(self, filter: Any, *args: Any, **kwargs: Any) -> Any:
        """Delete every matching document."""
        filter = self.__filtered("delete_many", filter, kwargs)
        await self.__prepare("delete_many")
        return await self.__inner.delete_many(filter, *args, **kwargs)

    async def find_one_and_delete(self, filter: Any, *args: Any, **kwargs: Any) -> Any:
        """Delete the first matching document and return it."""
        filter = self.__filtered("find_one_and_delete", filter, kwargs)
        await self.__prepare("find_one_and_delete")
        return await self.__inner.find_one_and_delete(filter, *args, **kwargs)

    async def find_one_and_update(self, filter: Any, update: Any, *args: Any, **kwargs: Any) -> Any:
        """Update the first matching document and return it; ``user_id`` may not change."""
        upsert, options = _find_and_modify_options(args, kwargs, _AFTER_UPDATE)
        filter, update = self.__changed("find_one_and_update", filter, update, upsert, options)
        await self.__prepare("find_one_and_update")
        return await self.__inner.find_one_and_update(filter, update, **options)

    async def find_one_and_replace(
        self, filter: Any, replacement: Any, *args: Any, **kwargs: Any
    ) -> Any:
        """Replace the first matching document and return it."""
        self.__claim(replacement)
        filter, replacement = snapshot(filter, "filter"), snapshot(replacement, "replacement")
        self.__claim(replacement)
        upsert, options = _find_and_modify_options(args, kwargs, _AFTER_REPLACEMENT)
        policy = self.__policy
        problem = rules.replace_problem(policy, self.__name, filter, replacement, upsert, options)
        self.__check("find_one_and_replace", problem, policy)
        await self.__prepare("find_one_and_replace")
        filter = self.__to_run(filter, problem, policy)
        return await self.__inner.find_one_and_replace(filter, replacement, **options)

    async def bulk_write(self, requests: Iterable[Any], *args: Any, **kwargs: Any) -> Any:
        """Run PyMongo write requests, each checked as its own method would be."""
        originals = list(requests)
        if any(getattr(r, "_namespace", None) is not None for r in originals):
            self.__policy.refuse(
                self.__label("bulk_write"), "requests may not name another namespace"
            )
        for request in originals:
            if isinstance(request, InsertOne | ReplaceOne):
                self.__claim(request._doc)
        copies = [snapshot_request(r) for r in originals]
        for request in copies:
            if isinstance(request, InsertOne | ReplaceOne):
                self.__claim(request._doc)
        policy = self.__policy
        problems = [rules.request_problem(policy, self.__name, r) for r in copies]
        self.__check("bulk_write", next((p for p in problems if p), None), policy)
        for request, problem in zip(copies, problems, strict=True):
            if hasattr(request, "_filter"):
                request._filter = self.__to_run(request._filter, problem, policy)
        await self.__prepare("bulk_write")
        return await self.__inner.bulk_write(copies, *args, **kwargs)

    # Indexes and the collection itself

    async def create_index(self, keys: Any, **kwargs: Any) -> str:
        """Create an index; returns its name. A unique one on a per-user collection must
        lead with ``user_id``."""
        keys = snapshot_index(keys)
        if "unique" in kwargs:
            kwargs["unique"] = bool(kwargs["unique"])
        self.__check("create_index", rules.index_problem(self.__policy, self.__name, keys, kwargs))
        await self.__prepare("create_index")
        async with self.__quiet("create_index"):
            return str(await self.__inner.create_index(keys, **kwargs))

    async def create_indexes(self, indexes: Any, **kwargs: Any) -> list[str]:
        """Create several indexes (``IndexModel`` list)."""
        models = [snapshot_model(m) for m in indexes]
        problems = (rules.model_problem(self.__policy, self.__name, m) for m in models)
        self.__check("create_indexes", next((p for p in problems if p), None))
        await self.__prepare("create_indexes")
        async with self.__quiet("create_indexes"):
            return list(await self.__inner.create_indexes(models, **kwargs))

    async def drop_index(self, index_or_name: Any, **kwargs: Any) -> None:
        """Drop one index: shared collections only (a user collection's indexes serve,
        and constrain, every user)."""
        self.__check("drop_index", self.__whole("drop_index"))
        await self.__prepare("drop_index")
        await self.__inner.drop_index(index_or_name, **kwargs)

    async def drop_indexes(self, **kwargs: Any) -> None:
        """Drop every index but ``_id``'s: shared collections only."""
        self.__check("drop_indexes", self.__whole("drop_indexes"))
        await self.__prepare("drop_indexes")
        await self.__inner.drop_indexes(**kwargs)

    def list_indexes(self, **kwargs: Any) -> ScopedCursor:
        """The index documents, as a cursor."""
        self.__check("list_indexes", None)
        return ScopedCursor(self.__inner.list_indexes(**kwargs), self.__ready("list_indexes"))

    async def index_information(self, **kwargs: Any) -> dict[str, Any]:
        """Index name to index description."""
        self.__check("index_information", None)
        await self.__prepare("index_information")
        return dict(await self.__inner.index_information(**kwargs))

    async def drop(self, **kwargs: Any) -> None:
        """Drop the collection: shared collections only (it holds every user's documents)."""
        self.__check("drop", self.__whole("drop", fix="delete_many({'user_id': user_id})"))
        await self.__prepare("drop")
        await self.__inner.drop(**kwargs)

    async def rename(self, new_name: str, *args: Any, **kwargs: Any) -> None:
        """Rename the collection: only under escalation (it moves every user's documents)."""
        new_name = str(new_name)
        named = collection_problem(new_name)
        if named is not None:
            self.__policy.refuse(self.__label("rename"), named)
        problem = None
        if self.__policy.escalation is None:
            problem = "rename() moves every user's documents; use db.as_admin(reason=...)"
        self.__check("rename", problem)
        ready = self.__ready("rename", (new_name,))  # the new name holds the documents now
        if ready is not None:
            await ready()
        await self.__inner.rename(new_name, *args, **kwargs)

    # The checks

    @property
    def __inner(self) -> Any:
        return unseal(self.__scope).inner

    @property
    def __policy(self) -> Policy:
        return unseal(self.__scope).policy

    def __label(self, operation: str) -> str:
        return f"db[{self.__name!r}].{operation}()"

    def __check(self, operation: str, problem: str | None, policy: Policy | None = None) -> None:
        policy = policy or self.__policy
        if problem is not None or policy.escalation is not None:
            label = self.__label(operation)
            policy.escalated(label)
            if problem is not None:
                policy.violation(label, problem)

    def __filtered(self, operation: str, filter: Any, options: dict[str, Any]) -> Any:
        """The filter to run: a copy of the plugin's, checked, with the caller's pin first."""
        policy = self.__policy
        filter = snapshot(filter, "filter")
        problem = rules.filter_problem(policy, self.__name, filter, options)
        self.__check(operation, problem, policy)
        return self.__to_run(filter, problem, policy)

    def __changed(
        self, operation: str, filter: Any, update: Any, upsert: bool, options: dict[str, Any]
    ) -> tuple[Any, Any]:
        """The filter and update to run: copies of the plugin's, checked, pin first."""
        policy = self.__policy
        filter, update = snapshot(filter, "filter"), snapshot(update, "update")
        problem = rules.change_problem(policy, self.__name, filter, update, upsert, options)
        self.__check(operation, problem, policy)
        return self.__to_run(filter, problem, policy), update

    def __to_run(self, filter: Any, problem: str | None, policy: Policy) -> Any:
        """A checked filter with the caller's pin first (see :func:`pin_first`); one that
        does not pin the caller (audit mode, shared collections) runs as it is."""
        if problem is None and policy.scoped(self.__name):
            return pin_first(filter, policy.user_id)
        return filter

    def __whole(self, operation: str, fix: str | None = None) -> str | None:
        """The problem of an operation that acts on every user of a user collection."""
        return rules.whole(operation, fix) if self.__policy.scoped(self.__name) else None

    def __claim(self, document: Any) -> None:
        policy = self.__policy
        if policy.scoped(self.__name):
            claim(document, policy.user_id)

    def __ready(self, operation: str, others: Iterable[str] = ()) -> Ready | None:
        """What must hold before the operation runs, when anything is left to make sure
        of: the collections it names are used as their recorded mode says, and a per-user
        collection has its ``user_id`` index. None when all of it is known already. An
        escalated operation (or any with isolation off) refuses nothing here, but its first
        use of a collection is recorded too: unrecorded, a manifest declaring it shared
        later read every user's documents such code had put there."""
        scope = unseal(self.__scope)
        policy = scope.policy
        database, name = scope.database.name, self.__name
        names = (name, *others)
        scoped = policy.scoped(name)
        if all(scope.modes.settled(database, n, policy) for n in names) and (
            not scoped or scope.indexes.done(database, name)
        ):
            return None
        label = self.__label(operation)

        async def ready() -> None:
            for collection in names:
                problem = await scope.modes.problem(database, collection, policy)
                if problem is not None and policy.per_user:
                    policy.violation(label, problem)
            if scoped:
                await scope.indexes.ensure(scope.inner)

        return ready

    def __sorted(self) -> Sorted | None:
        """For a per-user collection: what makes an index for the sort a scoped find
        asks for (see `UserIndexes.ensure_sorted`)."""
        scope = unseal(self.__scope)
        if not scope.policy.scoped(self.__name):
            return None
        return functools.partial(scope.indexes.ensure_sorted, scope.inner)

    async def __prepare(self, operation: str) -> None:
        ready = self.__ready(operation)
        if ready is not None:
            await ready()

    def __quiet(self, operation: str) -> contextlib.AbstractAsyncContextManager[None]:
        return _quiet_index_errors(self.__label(operation), self.__policy.scoped(self.__name))


@contextlib.asynccontextmanager
async def _quiet_index_errors(label: str, scoped: bool) -> AsyncIterator[None]:
    """Index creation on a per-user collection fails with a message naming no values: the
    duplicates that made it fail may be other users' documents."""
    try:
        yield
    except OperationFailure as error:
        if not scoped:
            raise
        raise type(error)(
            f"{label}: the index cannot be built on the documents the collection holds (a "
            "unique index over values that are not unique, or keys the store refuses)",
            error.code,
        ) from None


def _pins(filter: Any) -> bool:
    """Whether the filter to run starts with a plain ``user_id`` equality, as `pin_first`
    makes it: then an index on ``user_id`` and the sort keys gives the order."""
    if not isinstance(filter, dict) or not filter:
        return False
    first = next(iter(filter))
    return first == "user_id" and type(filter[first]) is str


# PyMongo's positional parameters after the filter and the document.
_AFTER_UPDATE = ("projection", "sort", "upsert", "return_document", "array_filters", "hint")
_AFTER_REPLACEMENT = ("projection", "sort", "upsert", "return_document", "hint")


def _find_and_modify_options(
    args: tuple[Any, ...], kwargs: dict[str, Any], names: tuple[str, ...]
) -> tuple[bool, dict[str, Any]]:
    """find_one_and_update/replace's options by name, with ``upsert`` fixed as a bool so
    the store reads what the check read."""
    if len(args) > len(names):
        raise TypeError(f"at most {len(names)} positional options: {', '.join(names)}")
    options = {**dict(zip(names, args, strict=False)), **kwargs}
    options["upsert"] = bool(options.get("upsert", False))
    return options["upsert"], options
