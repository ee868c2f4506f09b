"""An embedded collection with PyMongo's async API, signatures and result types."""

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bson.objectid import ObjectId
from pymongo.collection import ReturnDocument
from pymongo.errors import BulkWriteError, OperationFailure
from pymongo.operations import InsertOne
from pymongo.results import (
    BulkWriteResult,
    DeleteResult,
    InsertManyResult,
    InsertOneResult,
    UpdateResult,
)

from tessera.store.aggregation.aggregate import run_pipeline, split_leading_match
from tessera.store.aggregation.pipeline import check_sub_pipeline_depth
from tessera.store.api.bulk import (
    check_filter,
    check_replacement,
    check_request,
    check_update,
    run_bulk,
)
from tessera.store.api.collection_indexes import IndexMethods
from tessera.store.api.cursor import (
    Cursor,
    ListCursor,
    PipelineCursor,
    normalize_projection,
    run_stages,
    streamed_pipeline,
)
from tessera.store.api.many import Many, run_many
from tessera.store.api.options import check_options
from tessera.store.bounds import deadlines
from tessera.store.bounds.deadlines import Limit
from tessera.store.engine import documents, reads, writes
from tessera.store.engine.catalog import Catalog
from tessera.store.engine.planner import Plan, id_lookup, plan_query
from tessera.store.engine.stream import Stream, next_batch, where_to_read
from tessera.store.query.filters import evaluates
from tessera.store.query.projection import compile_projection
from tessera.store.query.sorting import SortSpec, normalize_sort
from tessera.store.values.ordering import hash_key
from tessera.store.values.paths import MISSING, path_values, split_path

if TYPE_CHECKING:
    from tessera.store.api.database import Database

__all__ = ["Collection"]

#: The longest namespace (database and collection names, with the dot), in bytes, as
#: MongoDB's.
MAX_NAMESPACE = 255


def _time_limit(options: Mapping[str, Any]) -> Limit | None:
    """The operation's ``maxTimeMS`` (or ``max_time_ms``) option, counted from now."""
    return deadlines.after(deadlines.max_time_ms(options)) if options else None


class Collection(IndexMethods):
    """A collection of one embedded database; get one with ``db[name]``."""

    def __init__(self, database: "Database", name: str) -> None:
        if not name or not isinstance(name, str) or "$" in name or name.startswith("."):
            raise ValueError(f"invalid collection name {name!r}")
        if "\x00" in name:
            raise ValueError("collection names must not contain the null character")
        # MongoDB's limit on a namespace: a name of megabytes would go into the catalog,
        # and into every index's and error's name, kept for good.
        if len(name.encode("utf-8", "surrogatepass")) + len(database.name) + 1 > MAX_NAMESPACE:
            raise ValueError(
                f"collection name of {len(name)} characters: the namespace "
                f"({database.name}.name) is over MongoDB's limit of {MAX_NAMESPACE} bytes"
            )
        self.database = database
        self.name = name
        self._engine = database.client.engine
        self._db = database.name

    @property
    def full_name(self) -> str:
        return f"{self._db}.{self.name}"

    def __getitem__(self, name: str) -> "Collection":
        return Collection(self.database, f"{self.name}.{name}")

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Collection)
            and other._engine is self._engine
            and other.full_name == self.full_name
        )

    def __hash__(self) -> int:
        return hash(self.full_name)

    def __repr__(self) -> str:
        return f"Collection({self.database!r}, {self.name!r})"

    # Reads

    def find(
        self,
        filter: Mapping[str, Any] | None = None,
        projection: Any = None,
        skip: int = 0,
        limit: int = 0,
        *,
        sort: Any = None,
        **options: Any,
    ) -> Cursor:
        """A lazy cursor over the matching documents."""
        check_options(options)
        cursor = Cursor(self, filter, projection, skip, limit, sort)
        if options:
            cursor.allow_disk_use(bool(options.get("allow_disk_use")))
            cursor.max_time_ms(deadlines.max_time_ms(options))
        return cursor

    async def find_one(
        self, filter: Any = None, *args: Any, **kwargs: Any
    ) -> dict[str, Any] | None:
        """The first matching document, or None; a non-dict filter means ``{"_id": filter}``."""
        if filter is not None and not isinstance(filter, Mapping):
            filter = {"_id": filter}
        documents.check_argument(filter, "filter")
        lookup = id_lookup(filter) if filter and not args and not kwargs else None
        if lookup is not None:
            # The commonest reads of all skip the cursor: one primary-key lookup, inline,
            # and for `{"_id": i, "user_id": u}` a check of the one document found.
            key, others = lookup
            row = self._engine.read_now(
                lambda conn, catalog: reads.by_id(conn, self._info(catalog), key), snapshot=False
            )
            if row is None or (others and not reads.residual_match(row[1], others, filter)):
                return None
            return row[1]
        kwargs.pop("limit", None)
        found = await self.find(filter, *args, **kwargs).limit(1).to_list(1)
        return found[0] if found else None

    async def count_documents(
        self, filter: Mapping[str, Any], skip: int = 0, limit: int = 0, **options: Any
    ) -> int:
        """How many documents match `filter`, after `skip`, at most `limit`."""
        check_options(options)
        check_filter(filter)
        return await self._read(
            lambda conn, catalog: reads.count(
                conn, catalog.get(self._db, self.name), filter, skip=skip, limit=limit
            ),
            inline=self._plan(filter, None).point and not evaluates(filter),
            limit=_time_limit(options),
        )

    async def estimated_document_count(self, **options: Any) -> int:
        """The number of documents in the collection."""
        check_options(options)
        return await self._read(
            lambda conn, catalog: reads.count(conn, self._info(catalog), {}),
            limit=_time_limit(options),
        )

    async def distinct(
        self, key: str, filter: Mapping[str, Any] | None = None, **options: Any
    ) -> list[Any]:
        """The distinct values of `key` among matching documents; arrays are unwound."""
        check_options(options)
        if not isinstance(key, str):
            raise TypeError("distinct key must be a string")
        documents.check_argument(filter, "filter")
        found = await self._read(
            lambda conn, catalog: reads.find(conn, self._info(catalog), filter or {}),
            limit=_time_limit(options),
        )
        seen: set[Any] = set()
        out: list[Any] = []
        for doc in found:
            for value in path_values(doc, split_path(key)):
                for item in value if isinstance(value, list) else [value]:
                    if item is MISSING:
                        continue
                    marker = hash_key(item)
                    if marker not in seen:
                        seen.add(marker)
                        out.append(item)
        return out

    def aggregate(
        self, pipeline: Sequence[Mapping[str, Any]], **options: Any
    ) -> ListCursor | PipelineCursor:
        """Run `pipeline`; usable awaited (PyMongo) or directly as a cursor (Motor).

        A pipeline of a leading ``$match`` and ``$sort`` and then only stages that take
        documents one at a time streams a batch at a time (``batchSize`` honoured); any
        other runs whole on first use.
        """
        disk = bool(options.pop("allowDiskUse", False))
        check_options(options)
        if not isinstance(pipeline, list | tuple):
            raise TypeError("pipeline must be a list")
        documents.check_argument(pipeline, "pipeline")
        check_sub_pipeline_depth(pipeline)
        stages = list(pipeline)
        max_time_ms = deadlines.max_time_ms(options)
        streamed = streamed_pipeline(stages)
        if streamed is not None:
            filter, sort, rest = streamed
            batch = options.get("batchSize", options.get("batch_size")) or 0
            cursor = PipelineCursor(self, filter, sort, rest, batch, disk)
            cursor.max_time_ms(max_time_ms)
            return cursor

        async def compute() -> list[dict[str, Any]]:
            return await self._read(
                lambda conn, catalog: self._aggregate(conn, catalog, stages),
                limit=deadlines.after(max_time_ms),
            )

        return ListCursor(compute)

    def _aggregate(
        self, conn: sqlite3.Connection, catalog: Catalog, stages: list[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        filter, rest = split_leading_match(stages)
        sort: SortSpec | None = None
        limit = 0
        if rest and "$sort" in rest[0] and len(rest[0]) == 1:
            sort = normalize_sort(rest[0]["$sort"])
            rest = rest[1:]
            size = rest[0].get("$limit") if rest and len(rest[0]) == 1 else None
            if isinstance(size, int) and not isinstance(size, bool) and size > 0:
                limit = size
                rest = rest[1:]
        sizes: list[int] = []
        found = reads.find(
            conn, self._info(catalog), filter or {}, sort=sort, limit=limit, sizes=sizes
        )

        def resolve(name: str) -> list[dict[str, Any]]:
            return reads.find(conn, catalog.get(self._db, name), {})

        return run_pipeline(found, rest, resolve=resolve, stored_bytes=sum(sizes))

    # Writes

    async def insert_one(self, document: Any, **options: Any) -> InsertOneResult:
        """Insert one document; it gains an ObjectId `_id` if it had none."""
        check_options(options)
        doc = documents.prepare_insert(document)

        def job(conn: sqlite3.Connection, catalog: Catalog) -> None:
            coll = writes.collection(conn, catalog, self._db, self.name)
            writes.insert(conn, coll, catalog, doc)

        await self._engine.write(job, limit=_time_limit(options))
        return InsertOneResult(doc["_id"], True)

    async def insert_many(
        self, documents_: Iterable[Any], ordered: bool = True, **options: Any
    ) -> InsertManyResult:
        """Insert documents in order; an ordered insert stops at the first error."""
        check_options(options)
        if isinstance(documents_, Mapping) or not isinstance(documents_, Iterable):
            raise TypeError("documents must be a non-empty list")
        requests = [InsertOne(d) for d in documents_]
        if not requests:
            raise TypeError("documents must be a non-empty list")
        inserted: list[Any] = []
        for request in requests:
            doc = request._doc
            if isinstance(doc, dict) and "_id" not in doc:
                doc["_id"] = ObjectId()
            inserted.append(doc.get("_id") if isinstance(doc, Mapping) else None)
        await self._bulk(requests, ordered, _time_limit(options))
        return InsertManyResult(inserted, True)

    async def update_one(
        self,
        filter: Mapping[str, Any],
        update: Any,
        upsert: bool = False,
        *,
        array_filters: Sequence[Mapping[str, Any]] | None = None,
        sort: Any = None,
        **options: Any,
    ) -> UpdateResult:
        """Update the first matching document."""
        check_update(update)
        return await self._update(
            filter, update, False, upsert, False, array_filters, sort, options
        )

    async def update_many(
        self,
        filter: Mapping[str, Any],
        update: Any,
        upsert: bool = False,
        *,
        array_filters: Sequence[Mapping[str, Any]] | None = None,
        **options: Any,
    ) -> UpdateResult:
        """Update every matching document."""
        check_update(update)
        return await self._update(filter, update, True, upsert, False, array_filters, None, options)

    async def replace_one(
        self,
        filter: Mapping[str, Any],
        replacement: Mapping[str, Any],
        upsert: bool = False,
        *,
        sort: Any = None,
        **options: Any,
    ) -> UpdateResult:
        """Replace the first matching document (its `_id` stays)."""
        check_replacement(replacement)
        return await self._update(filter, replacement, False, upsert, True, None, sort, options)

    async def _update(
        self,
        filter: Mapping[str, Any],
        change: Any,
        multi: bool,
        upsert: bool,
        replacement: bool,
        array_filters: Sequence[Mapping[str, Any]] | None,
        sort: Any,
        options: Mapping[str, Any],
    ) -> UpdateResult:
        check_options(options)
        check_filter(filter)
        documents.check_argument(array_filters, "arrayFilters")
        documents.check_argument(sort, "sort")
        order = normalize_sort(sort) or None
        limit = _time_limit(options)
        if multi:
            many = Many(self._db, self.name, filter, change, upsert, array_filters)
            done = await run_many(self._engine, many, limit)
            raw: dict[str, Any] = {"n": done.n, "nModified": done.modified}
            if done.upserted:
                raw["upserted"] = done.upserted[0]
            return UpdateResult(raw, True)

        def job(conn: sqlite3.Connection, catalog: Catalog) -> dict[str, Any]:
            return writes.update(
                conn,
                catalog,
                self._db,
                self.name,
                filter,
                change,
                multi=multi,
                upsert=upsert,
                replacement=replacement,
                array_filters=array_filters,
                sort=order,
            )

        return UpdateResult(await self._engine.write(job, limit=limit), True)

    async def delete_one(self, filter: Mapping[str, Any], **options: Any) -> DeleteResult:
        """Delete the first matching document."""
        return await self._delete(filter, False, options)

    async def delete_many(self, filter: Mapping[str, Any], **options: Any) -> DeleteResult:
        """Delete every matching document."""
        return await self._delete(filter, True, options)

    async def _delete(
        self, filter: Mapping[str, Any], multi: bool, options: Mapping[str, Any]
    ) -> DeleteResult:
        check_options(options)
        check_filter(filter)
        limit = _time_limit(options)
        if multi:
            done = await run_many(self._engine, Many(self._db, self.name, filter), limit)
            return DeleteResult({"n": done.n}, True)

        def job(conn: sqlite3.Connection, catalog: Catalog) -> int:
            return writes.delete(conn, catalog, self._db, self.name, filter, multi=False)

        return DeleteResult({"n": await self._engine.write(job, limit=limit)}, True)

    async def find_one_and_update(
        self,
        filter: Mapping[str, Any],
        update: Any,
        projection: Any = None,
        sort: Any = None,
        upsert: bool = False,
        return_document: bool = ReturnDocument.BEFORE,
        array_filters: Sequence[Mapping[str, Any]] | None = None,
        **options: Any,
    ) -> dict[str, Any] | None:
        """Update the first match; return it as it was before (default) or after."""
        check_update(update)
        return await self._find_and_modify(
            "update", filter, update, projection, sort, upsert, return_document, array_filters,
            options,
        )  # fmt: skip

    async def find_one_and_replace(
        self,
        filter: Mapping[str, Any],
        replacement: Mapping[str, Any],
        projection: Any = None,
        sort: Any = None,
        upsert: bool = False,
        return_document: bool = ReturnDocument.BEFORE,
        **options: Any,
    ) -> dict[str, Any] | None:
        """Replace the first match; return it as it was before (default) or after."""
        check_replacement(replacement)
        return await self._find_and_modify(
            "replace", filter, replacement, projection, sort, upsert, return_document, None,
            options,
        )  # fmt: skip

    async def find_one_and_delete(
        self,
        filter: Mapping[str, Any],
        projection: Any = None,
        sort: Any = None,
        **options: Any,
    ) -> dict[str, Any] | None:
        """Delete the first match and return it."""
        return await self._find_and_modify(
            "delete", filter, None, projection, sort, False, ReturnDocument.BEFORE, None, options
        )

    async def _find_and_modify(
        self,
        kind: str,
        filter: Mapping[str, Any],
        change: Any,
        projection: Any,
        sort: Any,
        upsert: bool,
        return_document: bool,
        array_filters: Sequence[Mapping[str, Any]] | None,
        options: Mapping[str, Any],
    ) -> dict[str, Any] | None:
        check_options(options)
        check_filter(filter)
        for value, what in (
            (array_filters, "arrayFilters"),
            (projection, "projection"),
            (sort, "sort"),
        ):
            documents.check_argument(value, what)
        projection = normalize_projection(projection)
        # A projection that matches patterns is compiled and applied off the event loop.
        off_loop = projection is not None and evaluates(projection)
        project = None if off_loop else compile_projection(projection)
        order = normalize_sort(sort) or None

        def job(conn: sqlite3.Connection, catalog: Catalog) -> dict[str, Any] | None:
            return writes.find_and_modify(
                conn,
                catalog,
                self._db,
                self.name,
                filter,
                change,
                kind=kind,
                sort=order,
                upsert=upsert,
                return_after=bool(return_document),
                array_filters=array_filters,
            )

        doc = await self._engine.write(job, limit=_time_limit(options))
        if doc is None or projection is None:
            return doc
        if off_loop:
            return await self._engine.read(
                lambda conn, catalog: _project(projection, doc), snapshot=False
            )
        return doc if project is None else project(doc)

    async def bulk_write(
        self, requests: Sequence[Any], ordered: bool = True, **options: Any
    ) -> BulkWriteResult:
        """Run PyMongo write requests (InsertOne, UpdateOne, ...) in order."""
        check_options(options)
        requests = list(requests)
        if not requests:
            raise OperationFailure("Write batch is empty", code=16)  # PyMongo: InvalidOperation
        for request in requests:
            if isinstance(request, InsertOne) and isinstance(request._doc, dict):
                request._doc.setdefault("_id", ObjectId())
        return BulkWriteResult(await self._bulk(requests, ordered, _time_limit(options)), True)

    async def _bulk(
        self, requests: list[Any], ordered: bool, limit: Limit | None
    ) -> dict[str, Any]:
        for request in requests:
            check_request(request)
        result = await run_bulk(self._engine, self._db, self.name, requests, ordered, limit)
        if result["writeErrors"]:
            raise BulkWriteError(result)
        return result

    # Collection

    async def drop(self, **options: Any) -> None:
        """Drop the collection and its indexes."""
        await self.database.drop_collection(self.name, **options)

    async def rename(self, new_name: str, dropTarget: bool = False, **options: Any) -> None:
        """Rename the collection within its database."""
        check_options(options)
        Collection(self.database, new_name)  # validates the name

        def job(conn: sqlite3.Connection, catalog: Catalog) -> None:
            coll = catalog.get(self._db, self.name)
            if coll is None:
                raise OperationFailure("source namespace does not exist", code=26)
            target = catalog.get(self._db, new_name)
            if target is not None:
                if not dropTarget:
                    raise OperationFailure("target namespace exists", code=48)
                catalog.drop_collection(conn, target)
            catalog.rename_collection(conn, coll, self._db, new_name)

        await self._engine.write(job)

    # Internals

    def _plan(self, filter: Mapping[str, Any], sort: SortSpec | None) -> Plan:
        return plan_query(self._info(self._engine.catalog), filter, sort)

    async def _read(
        self,
        fn: Any,
        *,
        inline: bool = False,
        snapshot: bool = True,
        limit: Limit | None = None,
        catalog: Catalog | None = None,
    ) -> Any:
        if inline:
            return self._engine.read_now(fn, snapshot=snapshot, limit=limit, catalog=catalog)
        return await self._engine.read(fn, snapshot=snapshot, limit=limit)

    async def _find_batch(
        self,
        stream: Stream,
        filter: Mapping[str, Any],
        projection: Mapping[str, Any] | None,
        sort: SortSpec,
        skip: int,
        count: int,
        limit: int,
        max_time_ms: int | None = None,
        stages: list[Mapping[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """The next batch of a find cursor (see `stream.next_batch`), projected, or run
        through a streamed pipeline's `stages`."""
        # A projection that matches patterns is compiled, like the filter, off the loop.
        off_loop = bool(stages) or (projection is not None and evaluates(projection))
        project = None if off_loop else compile_projection(projection)
        catalog = self._engine.catalog
        coll = self._info(catalog)
        inline, snapshot = where_to_read(stream, coll, filter, sort, skip + count, off_loop)

        def fn(conn: sqlite3.Connection, catalog: Catalog) -> list[dict[str, Any]]:
            found = next_batch(
                conn,
                self._info(catalog),
                filter,
                sort,
                stream,
                skip=skip,
                count=count,
                limit=limit,
            )
            if stages:
                return run_stages(found, stages)
            project_now = compile_projection(projection) if off_loop else project
            return found if project_now is None else [project_now(doc) for doc in found]

        time_limit = deadlines.after(max_time_ms) if max_time_ms else None
        return await self._read(
            fn, inline=inline, snapshot=snapshot, limit=time_limit, catalog=catalog
        )


def _project(projection: Mapping[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    project = compile_projection(projection)
    return doc if project is None else project(doc)
