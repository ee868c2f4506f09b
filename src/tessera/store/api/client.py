"""The embedded client: one SQLite file holding every database, like a MongoDB server."""

import sqlite3
from typing import Any

from tessera.store.api.database import Database
from tessera.store.engine.catalog import Catalog
from tessera.store.engine.engine import Engine

__all__ = ["Client", "open_client"]


class Client:
    """An async client on an embedded store file (``path=None``: in memory).

    Example::

        client = Client("/data/app.db")
        await client["app"]["items"].insert_one({"title": "hello"})
        await client.close()
    """

    def __init__(self, path: str | None, *, synchronous: str = "FULL") -> None:
        self.engine = Engine(path, synchronous=synchronous)

    def __getitem__(self, name: str) -> Database:
        return Database(self, name)

    def __getattr__(self, name: str) -> Database:
        if name.startswith("_"):
            raise AttributeError(f"Client has no attribute {name!r}")
        return Database(self, name)

    def __repr__(self) -> str:
        return f"Client({self.engine.path!r})"

    def get_database(self, name: str, **options: Any) -> Database:
        """The database `name` (it exists once it holds a collection)."""
        return Database(self, name)

    async def list_database_names(self, **options: Any) -> list[str]:
        """Names of the databases that hold at least one collection."""
        return self.engine.catalog.databases()

    async def drop_database(self, name_or_database: Any, **options: Any) -> None:
        """Drop every collection of a database."""
        name = getattr(name_or_database, "name", name_or_database)

        def job(conn: sqlite3.Connection, catalog: Catalog) -> None:
            for coll_name in catalog.names(name):
                info = catalog.get(name, coll_name)
                if info is not None:
                    catalog.drop_collection(conn, info)

        await self.engine.write(job)

    async def close(self) -> None:
        """Finish pending writes and close the file."""
        self.engine.close()

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


_SQLITE = "sqlite://"
_MEMORY = "sqlite://:memory:"


def open_client(uri: str) -> Any:
    """A client for `uri`: a file path or ``sqlite:///abs/path.db`` opens the embedded
    engine, ``sqlite://:memory:`` an in-memory one, ``mongodb://`` or
    ``mongodb+srv://`` a MongoDB server."""
    if not isinstance(uri, str) or not uri:
        raise ValueError(_accepted(uri))
    if uri.startswith(("mongodb://", "mongodb+srv://")):
        from tessera.store.mongo import open_mongo_client  # PyMongo's client only when asked

        return open_mongo_client(uri)
    if uri == _MEMORY:
        return Client(None)
    if uri.startswith(_SQLITE):
        path = uri[len(_SQLITE) :]
        if not path.startswith("/"):
            raise ValueError(_accepted(uri))
        return Client(path)
    if "://" in uri:
        raise ValueError(_accepted(uri))
    return Client(uri)


def _accepted(uri: Any) -> str:
    return (
        f"unsupported store URI {uri!r}: use a file path, sqlite:///abs/path.db, "
        "sqlite://:memory:, mongodb://... or mongodb+srv://..."
    )
