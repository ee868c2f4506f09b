"""Write requests: checked as PyMongo checks them, and run in slices of the writer's time.

`run_bulk` serves ``insert_many`` and ``bulk_write``: each request is atomic in its own
SAVEPOINT, errors are collected as MongoDB reports them, and an ordered batch stops at
the first one. Requests run in slices (see `slices`), an UpdateMany or DeleteMany in
slices of its own (see `many`). Plain inserts go in a few statements per batch (at most
`slices.INSERT_CHUNK`, or what the slice has time to prepare) when nothing can fail
half-way.
"""

import functools
import sqlite3
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pymongo.errors import ExecutionTimeout, PyMongoError
from pymongo.operations import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne

from tessera.store.api.many import Many, run_many
from tessera.store.bounds import deadlines
from tessera.store.bounds.deadlines import Limit
from tessera.store.engine import documents, slices, writes
from tessera.store.engine.catalog import Catalog
from tessera.store.engine.slices import Slice
from tessera.store.query.sorting import normalize_sort

if TYPE_CHECKING:
    from tessera.store.engine.engine import Engine

__all__ = [
    "check_filter",
    "check_replacement",
    "check_request",
    "check_update",
    "run_bulk",
]


def check_filter(filter: Any) -> Mapping[str, Any]:
    if not isinstance(filter, Mapping):
        raise TypeError(f"filter must be a dict, not {type(filter).__name__}")
    documents.check_argument(filter, "filter")
    return filter


def check_update(update: Any) -> None:
    if not isinstance(update, Mapping | list):
        raise TypeError(f"update must be a dict or a pipeline list, not {type(update).__name__}")
    if not update:
        raise ValueError("update cannot be empty")
    if isinstance(update, Mapping) and not str(next(iter(update))).startswith("$"):
        raise ValueError("update only works with $ operators")
    documents.check_argument(update, "update")


def check_replacement(replacement: Any) -> None:
    if not isinstance(replacement, Mapping):
        raise TypeError(f"replacement must be a dict, not {type(replacement).__name__}")
    first = next(iter(replacement), None)
    if first is not None and str(first).startswith("$"):
        raise ValueError("replacement can not include $ operators")
    documents.check_argument(replacement, "replacement")


def check_request(request: Any) -> None:
    """Refuse, before anything runs, what PyMongo refuses on the client side."""
    if isinstance(request, InsertOne):
        if not isinstance(request._doc, Mapping):
            raise TypeError(f"document must be a dict, not {type(request._doc).__name__}")
        documents.check_argument(request._doc, "document")  # its error would show it
        return
    if not isinstance(request, UpdateOne | UpdateMany | ReplaceOne | DeleteOne | DeleteMany):
        raise TypeError(f"{request!r} is not a valid request")
    check_filter(request._filter)
    if isinstance(request, ReplaceOne):
        check_replacement(request._doc)
    elif isinstance(request, UpdateOne | UpdateMany):
        check_update(request._doc)
    for option, what in (("_array_filters", "arrayFilters"), ("_sort", "sort")):
        documents.check_argument(getattr(request, option, None), what)


async def run_bulk(
    engine: "Engine",
    db: str,
    name: str,
    requests: list[Any],
    ordered: bool,
    limit: Limit | None,
) -> dict[str, Any]:
    """Run `requests` in slices of the writer's time (see `slices`), each request
    atomically; MongoDB's raw result, errors collected as MongoDB reports them."""
    result: dict[str, Any] = {
        "writeErrors": [],
        "writeConcernErrors": [],
        "nInserted": 0,
        "nUpserted": 0,
        "nMatched": 0,
        "nModified": 0,
        "nRemoved": 0,
        "upserted": [],
    }
    inserts = all(isinstance(request, InsertOne) for request in requests)
    start = 0
    while start < len(requests) and not (ordered and result["writeErrors"]):
        if isinstance(requests[start], UpdateMany | DeleteMany):
            await _run_many(engine, db, name, requests[start], start, result, limit)
            start += 1
            continue
        job = functools.partial(
            run_slice,
            db=db,
            name=name,
            requests=requests,
            start=start,
            ordered=ordered,
            result=result,
            inserts=inserts,
        )
        # Later slices commit alone: a job committed with one would wait for all of it.
        start = await engine.write(job, limit=limit, alone=start > 0)
    return result


def run_slice(
    conn: sqlite3.Connection,
    catalog: Catalog,
    *,
    db: str,
    name: str,
    requests: list[Any],
    start: int,
    ordered: bool,
    result: dict[str, Any],
    inserts: bool,
) -> int:
    """Run requests from `start` until the slice ends, a request over many documents
    comes, or (ordered) one fails; the index of the first request not run.

    A batch of plain inserts (`inserts`) goes `slices.INSERT_CHUNK` at a time in a few
    statements, and one at a time through a chunk where that failed.
    """
    part = Slice()
    i = single_until = start
    while i < len(requests) and not isinstance(requests[i], UpdateMany | DeleteMany):
        if i > start and part.over():
            break
        deadlines.check()
        if inserts and i >= single_until:
            end = min(i + slices.INSERT_CHUNK, len(requests))
            stored, reached = _insert_fast(conn, catalog, db, name, requests, i, end, part)
            if stored:
                result["nInserted"] += stored
                i += stored
                continue
            single_until = reached  # one at a time up to where the batch failed
        done = _run_request(conn, catalog, db, name, requests[i], i, result)
        i += 1
        if not done and ordered:
            break
    return i


def _run_request(
    conn: sqlite3.Connection,
    catalog: Catalog,
    db: str,
    name: str,
    request: Any,
    i: int,
    result: dict[str, Any],
) -> bool:
    """Run one request atomically; False, with its error in `result`, if it failed."""
    try:
        if isinstance(request, InsertOne) and not _has_unique_index(catalog, db, name):
            # Without a unique secondary index an insert fails before writing anything.
            _apply_request(conn, catalog, db, name, request, i, result)
        else:
            with writes.savepoint(conn):
                _apply_request(conn, catalog, db, name, request, i, result)
    except ExecutionTimeout:
        raise  # the whole batch is out of time, not this request
    except PyMongoError as exc:
        _record_error(result, i, request, exc)
        return False
    return True


async def _run_many(
    engine: "Engine",
    db: str,
    name: str,
    request: UpdateMany | DeleteMany,
    i: int,
    result: dict[str, Any],
    limit: Limit | None,
) -> None:
    """An UpdateMany or DeleteMany, in slices of its own (see `many`)."""
    if isinstance(request, DeleteMany):
        spec = Many(db, name, request._filter)
    else:
        upsert, array_filters = bool(request._upsert), request._array_filters
        spec = Many(db, name, request._filter, request._doc, upsert, array_filters)
    try:
        done = await run_many(engine, spec, limit)
    except ExecutionTimeout:
        raise
    except PyMongoError as exc:
        _record_error(result, i, request, exc)
        return
    if spec.change is None:
        result["nRemoved"] += done.n
    elif done.upserted:
        result["nUpserted"] += 1
        result["upserted"].append({"index": i, "_id": done.upserted[0]})
    else:
        result["nMatched"] += done.n
        result["nModified"] += done.modified


def _record_error(result: dict[str, Any], i: int, request: Any, exc: PyMongoError) -> None:
    code = getattr(exc, "code", None) or 2
    details = dict(getattr(exc, "details", None) or {})
    error = {**details, "index": i, "code": code, "errmsg": details.get("errmsg", str(exc))}
    error["op"] = request._doc if isinstance(request, InsertOne) else _op(request)
    result["writeErrors"].append(error)


def _insert_fast(
    conn: sqlite3.Connection,
    catalog: Catalog,
    db: str,
    name: str,
    requests: list[Any],
    start: int,
    end: int,
    part: Slice,
) -> tuple[int, int]:
    """Insert the plain inserts from `start` in a few statements, up to `end` or as many
    as the slice had time to prepare; how many, and the end of those it prepared (with
    none stored, nothing was written: on an error among them, or too few to batch)."""
    if end - start < 2 or _has_unique_index(catalog, db, name):
        return 0, end
    coll = writes.collection(conn, catalog, db, name)
    reached = start

    def prepared() -> Iterator[dict[str, Any]]:
        nonlocal reached
        for i in range(start, end):
            if i > start and part.over():
                return
            reached = i + 1
            yield documents.prepare_insert(requests[i]._doc)

    try:
        return writes.insert_batch(conn, coll, catalog, prepared()), reached
    except ExecutionTimeout:
        raise
    except (PyMongoError, sqlite3.IntegrityError, ValueError, TypeError):
        return 0, reached


def _has_unique_index(catalog: Catalog, db: str, name: str) -> bool:
    info = catalog.get(db, name)
    return info is not None and any(index.unique for index in info.indexes.values())


def _op(request: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"q": request._filter}
    if hasattr(request, "_doc"):
        op["u"] = request._doc
    if getattr(request, "_upsert", None) is not None:
        op["upsert"] = request._upsert
    return op


def _apply_request(
    conn: sqlite3.Connection,
    catalog: Catalog,
    db: str,
    name: str,
    request: Any,
    i: int,
    result: dict[str, Any],
) -> None:
    if isinstance(request, InsertOne):
        doc = documents.prepare_insert(request._doc)
        writes.insert(conn, writes.collection(conn, catalog, db, name), catalog, doc)
        result["nInserted"] += 1
        return
    if isinstance(request, DeleteOne | DeleteMany):
        check_filter(request._filter)
        multi = isinstance(request, DeleteMany)
        result["nRemoved"] += writes.delete(conn, catalog, db, name, request._filter, multi=multi)
        return
    replacement = isinstance(request, ReplaceOne)
    if replacement:
        check_replacement(request._doc)
    else:
        check_update(request._doc)
    check_filter(request._filter)
    raw = writes.update(
        conn,
        catalog,
        db,
        name,
        request._filter,
        request._doc,
        multi=isinstance(request, UpdateMany),
        upsert=bool(request._upsert),
        replacement=replacement,
        array_filters=getattr(request, "_array_filters", None),
        sort=normalize_sort(getattr(request, "_sort", None)) or None,
    )
    if "upserted" in raw:
        result["nUpserted"] += 1
        result["upserted"].append({"index": i, "_id": raw["upserted"]})
    else:
        result["nMatched"] += raw["n"]
        result["nModified"] += raw["nModified"]
