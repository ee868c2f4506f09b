"""The app database handed to plugins during a call: collections come out scoped, and no
attribute leads to the client, another database or the server's own collections."""

from __future__ import annotations

from typing import Any

from tessera.isolation.collection import WHOLE, ScopedCollection
from tessera.isolation.indexes import UserIndexes
from tessera.isolation.pipeline import collection_problem
from tessera.isolation.policy import Policy

# PyMongo database attributes that would step outside the checked collection API.
CLOSED_ATTRIBUTES = frozenset(
    {
        "client",
        "command",
        "cursor_command",
        "aggregate",
        "watch",
        "dereference",
        "list_collections",
        "validate_collection",
        "get_database",
    }
)


class ScopedDatabase:
    """The caller's app database (PyMongo's database API, limited to collections)."""

    __slots__ = ("__indexes", "__inner", "__policy")

    def __init__(self, inner: Any, policy: Policy, indexes: UserIndexes) -> None:
        self.__inner = inner
        self.__policy = policy
        self.__indexes = indexes

    @property
    def name(self) -> str:
        return str(self.__inner.name)

    def __getitem__(self, name: str) -> ScopedCollection:
        problem = collection_problem(name)
        if problem is not None:
            self.__policy.refuse(f"db[{name!r}]", problem)
        return ScopedCollection(self.__inner[name], self.__policy, self.__indexes, self)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in CLOSED_ATTRIBUTES:
            raise AttributeError(
                f"db.{name} is not available to plugins: a plugin reaches its app's "
                "collections only, through db['name'] (see docs/isolation.md)"
            )
        return self[name]

    def __repr__(self) -> str:
        return f"<database {self.name}, scoped to the caller>"

    def get_collection(self, name: str, **options: Any) -> ScopedCollection:
        """The collection called ``name``."""
        problem = collection_problem(name)
        if problem is not None:
            self.__policy.refuse(f"db.get_collection({name!r})", problem)
        inner = self.__inner.get_collection(name, **options)
        return ScopedCollection(inner, self.__policy, self.__indexes, self)

    def with_options(self, **options: Any) -> ScopedDatabase:
        """The same database with other read or write options."""
        return ScopedDatabase(self.__inner.with_options(**options), self.__policy, self.__indexes)

    async def list_collection_names(self, **options: Any) -> list[str]:
        """Names of the app's collections (the server's ``system.*`` ones left out)."""
        self.__policy.escalated("db.list_collection_names()")
        names = await self.__inner.list_collection_names(**options)
        return [n for n in names if collection_problem(n) is None]

    async def create_collection(self, name: str, **options: Any) -> ScopedCollection:
        """Create an empty collection and return it."""
        collection = self[name]
        self.__policy.escalated(f"db.create_collection({name!r})")
        await self.__inner.create_collection(name, **options)
        return collection

    async def drop_collection(self, name_or_collection: Any, **options: Any) -> None:
        """Drop a shared collection (a user collection holds every user's documents)."""
        name = getattr(name_or_collection, "name", name_or_collection)
        label = f"db.drop_collection({name!r})"
        self.__policy.escalated(label)
        named = collection_problem(name)
        if named is not None:
            self.__policy.refuse(label, named)
        if self.__policy.scoped(name):
            problem = WHOLE.format(op="drop_collection", fix="delete_many({'user_id': user_id})")
            self.__policy.violation(label, problem)
        await self.__inner.drop_collection(name, **options)
