"""The app database handed to plugins during a call: collections come out scoped, and no
attribute leads to the client, another database or the server's own collections."""

from __future__ import annotations

from typing import Any, NamedTuple

from tessera.isolation.collection import Scope, ScopedCollection
from tessera.isolation.indexes import UserIndexes
from tessera.isolation.modes import CollectionModes
from tessera.isolation.pipeline import collection_problem
from tessera.isolation.policy import Policy
from tessera.isolation.sealed import Sealed, seal, unseal

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


class _State(NamedTuple):
    inner: Any
    policy: Policy
    indexes: UserIndexes
    modes: CollectionModes


class ScopedDatabase:
    """The caller's app database (PyMongo's database API, limited to collections)."""

    __slots__ = ("__name", "__state")

    def __init__(
        self, inner: Any, policy: Policy, indexes: UserIndexes, modes: CollectionModes
    ) -> None:
        self.__name = str(inner.name)
        self.__state: Sealed[_State] = seal(_State(inner, policy, indexes, modes))

    @property
    def name(self) -> str:
        return self.__name

    def __getitem__(self, name: str) -> ScopedCollection:
        return self.__collection(name, f"db[{name!r}]")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in CLOSED_ATTRIBUTES:
            raise AttributeError(
                f"db.{name} is not available to plugins: a plugin reaches its app's "
                "collections only, through db['name'] (see docs/isolation.md)"
            )
        return self[name]

    def __repr__(self) -> str:
        return f"<database {self.name}, scoped to the caller>"

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("scoped databases cannot be copied or pickled")

    def get_collection(self, name: str, **options: Any) -> ScopedCollection:
        """The collection called ``name``."""
        collection = self.__collection(name, f"db.get_collection({name!r})")
        return collection.with_options(**options) if options else collection

    def with_options(self, **options: Any) -> ScopedDatabase:
        """The same database with other read or write options."""
        state = unseal(self.__state)
        return ScopedDatabase(
            state.inner.with_options(**options), state.policy, state.indexes, state.modes
        )

    async def list_collection_names(self, **options: Any) -> list[str]:
        """Names of the app's collections (the server's ``system.*`` ones left out)."""
        state = unseal(self.__state)
        state.policy.escalated("db.list_collection_names()")
        names = await state.inner.list_collection_names(**options)
        return [n for n in names if collection_problem(n) is None]

    async def create_collection(self, name: str, **options: Any) -> ScopedCollection:
        """Create an empty collection and return it."""
        collection = self[name]
        state = unseal(self.__state)
        state.policy.escalated(f"db.create_collection({collection.name!r})")
        await state.inner.create_collection(collection.name, **options)
        return collection

    async def drop_collection(self, name_or_collection: Any, **options: Any) -> None:
        """Drop a shared collection (a user collection holds every user's documents);
        checked as ``db[name].drop()`` is."""
        name = getattr(name_or_collection, "name", name_or_collection)
        await self.__collection(name, f"db.drop_collection({name!r})").drop(**options)

    def __collection(self, name: Any, label: str) -> ScopedCollection:
        state = unseal(self.__state)
        name = plain_name(name)
        problem = collection_problem(name)
        if problem is not None:
            state.policy.refuse(label, problem)
        scope = Scope(state.inner[name], state.policy, state.indexes, state.modes, self)
        return ScopedCollection(name, scope)


def plain_name(name: Any) -> str:
    """A collection name as exactly a ``str``: a subclass could compare as one name in the
    checks and name another collection in the store."""
    if type(name) is str:
        return name
    if isinstance(name, str):
        return str.__str__(name)
    raise TypeError(f"collection names must be strings, not {type(name).__name__}")
