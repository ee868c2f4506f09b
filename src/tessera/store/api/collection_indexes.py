"""The index methods of an embedded collection: create, list, drop."""

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from pymongo.errors import OperationFailure
from pymongo.operations import IndexModel

from tessera.store.api.cursor import ListCursor
from tessera.store.api.options import check_options
from tessera.store.engine import writes
from tessera.store.engine.catalog import (
    ID_INDEX,
    Catalog,
    default_index_name,
    is_text_key,
    make_index,
    normalize_index_keys,
)
from tessera.store.engine.engine import Engine


class IndexMethods:
    """PyMongo's index methods, for :class:`~tessera.store.api.collection.Collection`."""

    name: str
    _db: str
    _engine: Engine

    def _info(self, catalog: Catalog) -> Any:
        return catalog.get(self._db, self.name)

    async def create_index(self, keys: Any, **kwargs: Any) -> str:
        """Create an index (compound, unique, sparse) and fill it; return its name."""
        kwargs.pop("session", None)
        kwargs.pop("comment", None)
        index = make_index(keys, kwargs)
        if index.fields == ID_INDEX.fields and index.name in ("_id_", "_id_1"):
            return ID_INDEX.name

        def job(conn: sqlite3.Connection, catalog: Catalog) -> str:
            coll = writes.collection(conn, catalog, self._db, self.name)
            for existing in coll.all_indexes():
                same_keys = existing.fields == index.fields
                if existing.name == index.name or same_keys:
                    if (
                        same_keys
                        and existing.name == index.name
                        and (existing.unique, existing.sparse, existing.text)
                        == (index.unique, index.sparse, index.text)
                    ):
                        return existing.name
                    raise OperationFailure(
                        f"An existing index has the same name or keys as the requested index "
                        f"{index.name!r}; existing: {existing.describe()}",
                        code=85 if same_keys else 86,
                    )
            catalog.add_index(conn, coll, index)
            writes.build_index(conn, coll, catalog, index)
            return index.name

        return await self._engine.write(job)

    async def create_indexes(self, indexes: Sequence[IndexModel], **kwargs: Any) -> list[str]:
        """Create several indexes from PyMongo IndexModels; return their names."""
        names = []
        for model in indexes:
            spec = dict(model.document)
            keys = spec.pop("key")
            names.append(await self.create_index(list(keys.items()), **spec))
        return names

    async def drop_index(self, index_or_name: Any, **options: Any) -> None:
        """Drop an index by name or by its keys."""
        check_options(options)
        if isinstance(index_or_name, str):
            name = index_or_name
        elif is_text_key(index_or_name):  # named from its keys, as PyMongo names it
            pairs = index_or_name.items() if isinstance(index_or_name, Mapping) else index_or_name
            name = default_index_name(tuple(pairs))
        else:
            name = default_index_name(normalize_index_keys(index_or_name))
        if name == "_id_":
            raise OperationFailure("cannot drop _id index", code=72)

        def job(conn: sqlite3.Connection, catalog: Catalog) -> None:
            coll = catalog.get(self._db, self.name)
            index = coll.indexes.get(name) if coll else None
            if coll is None or index is None:
                raise OperationFailure(f"index not found with name [{name}]", code=27)
            catalog.drop_index(conn, coll, index)

        await self._engine.write(job)

    async def drop_indexes(self, **options: Any) -> None:
        """Drop every index but `_id_`."""
        check_options(options)

        def job(conn: sqlite3.Connection, catalog: Catalog) -> None:
            coll = catalog.get(self._db, self.name)
            if coll is None:
                return
            for index in list(coll.indexes.values()):
                catalog.drop_index(conn, coll, index)

        await self._engine.write(job)

    def list_indexes(self, **options: Any) -> ListCursor:
        """The indexes as documents; usable awaited (PyMongo) or directly (Motor)."""
        check_options(options)

        async def compute() -> list[dict[str, Any]]:
            coll = self._info(self._engine.catalog)
            return [index.describe() for index in coll.all_indexes()] if coll else []

        return ListCursor(compute)

    async def index_information(self, **options: Any) -> dict[str, dict[str, Any]]:
        """Indexes by name, as PyMongo reports them (``key`` as a list of pairs)."""
        out = {}
        for spec in await self.list_indexes(**options).to_list(None):
            info = {k: v for k, v in spec.items() if k != "name"}
            info["key"] = list(spec["key"].items())
            out[spec["name"]] = info
        return out
