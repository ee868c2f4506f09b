"""An embedded database: a namespace of collections inside the client's one file."""

import sqlite3
from typing import TYPE_CHECKING, Any

from pymongo.errors import CollectionInvalid, OperationFailure

from tessera.store.api.collection import Collection
from tessera.store.engine.catalog import Catalog

if TYPE_CHECKING:
    from tessera.store.api.client import Client

__all__ = ["Database"]


class Database:
    """A database of the embedded store; get one with ``client[name]``."""

    def __init__(self, client: "Client", name: str) -> None:
        if not name or not isinstance(name, str) or any(c in name for c in '/\\. "$'):
            raise ValueError(f"invalid database name {name!r}")
        self.client = client
        self.name = name

    def __getitem__(self, name: str) -> Collection:
        return Collection(self, name)

    def __getattr__(self, name: str) -> Collection:
        if name.startswith("_"):
            raise AttributeError(
                f"Database has no attribute {name!r}; use db[{name!r}] for a collection"
            )
        return Collection(self, name)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Database) and other.client is self.client and other.name == self.name
        )

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"Database({self.client!r}, {self.name!r})"

    def get_collection(self, name: str, **options: Any) -> Collection:
        """The collection `name` (created on first write)."""
        return Collection(self, name)

    async def list_collection_names(self, **options: Any) -> list[str]:
        """Names of the collections that exist in this database."""
        return self.client.engine.catalog.names(self.name)

    async def create_collection(self, name: str, **options: Any) -> Collection:
        """Create an empty collection; CollectionInvalid if it exists."""
        Collection(self, name)

        def job(conn: sqlite3.Connection, catalog: Catalog) -> None:
            if catalog.get(self.name, name) is not None:
                raise CollectionInvalid(f"collection {self.name}.{name} already exists")
            catalog.create_collection(conn, self.name, name)

        await self.client.engine.write(job)
        return Collection(self, name)

    async def drop_collection(self, name_or_collection: Any, **options: Any) -> None:
        """Drop a collection and its indexes (no error if it does not exist)."""
        name = getattr(name_or_collection, "name", name_or_collection)

        def job(conn: sqlite3.Connection, catalog: Catalog) -> None:
            info = catalog.get(self.name, name)
            if info is not None:
                catalog.drop_collection(conn, info)

        await self.client.engine.write(job)

    async def command(self, command: Any, value: Any = 1, **kwargs: Any) -> dict[str, Any]:
        """The few server commands an embedded store can answer: ``ping``."""
        name = command if isinstance(command, str) else next(iter(command), "")
        if name == "ping":
            return {"ok": 1.0}
        raise OperationFailure(f"command {name!r} is not supported by the embedded store", 59)
