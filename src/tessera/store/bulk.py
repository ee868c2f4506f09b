"""Write requests: checked as PyMongo checks them, and run as one batch.

`run_bulk` serves ``insert_many`` and ``bulk_write``: each request is atomic in its own
SAVEPOINT, errors are collected as MongoDB reports them, and an ordered batch stops at
the first one. A batch of plain inserts goes in a few statements when nothing can fail
half-way.
"""

import sqlite3
from collections.abc import Mapping
from typing import Any

from pymongo.errors import PyMongoError
from pymongo.operations import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne

from tessera.store import documents, writes
from tessera.store.catalog import Catalog
from tessera.store.sorting import normalize_sort

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
    return filter


def check_update(update: Any) -> None:
    if not isinstance(update, Mapping | list):
        raise TypeError(f"update must be a dict or a pipeline list, not {type(update).__name__}")
    if not update:
        raise ValueError("update cannot be empty")
    if isinstance(update, Mapping) and not str(next(iter(update))).startswith("$"):
        raise ValueError("update only works with $ operators")


def check_replacement(replacement: Any) -> None:
    if not isinstance(replacement, Mapping):
        raise TypeError(f"replacement must be a dict, not {type(replacement).__name__}")
    first = next(iter(replacement), None)
    if first is not None and str(first).startswith("$"):
        raise ValueError("replacement can not include $ operators")


def check_request(request: Any) -> None:
    """Refuse, before anything runs, what PyMongo refuses on the client side."""
    if isinstance(request, InsertOne):
        if not isinstance(request._doc, Mapping):
            raise TypeError(f"document must be a dict, not {type(request._doc).__name__}")
        return
    if not isinstance(request, UpdateOne | UpdateMany | ReplaceOne | DeleteOne | DeleteMany):
        raise TypeError(f"{request!r} is not a valid request")
    check_filter(request._filter)
    if isinstance(request, ReplaceOne):
        check_replacement(request._doc)
    elif isinstance(request, UpdateOne | UpdateMany):
        check_update(request._doc)


def run_bulk(
    conn: sqlite3.Connection,
    catalog: Catalog,
    db: str,
    name: str,
    requests: list[Any],
    ordered: bool,
) -> dict[str, Any]:
    """Each request atomically in its own savepoint; errors collected as MongoDB does."""
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
    if _insert_fast(conn, catalog, db, name, requests):
        result["nInserted"] = len(requests)
        return result
    for i, request in enumerate(requests):
        try:
            if isinstance(request, InsertOne) and not _has_unique_index(catalog, db, name):
                # Without a unique secondary index an insert fails before writing anything.
                _apply_request(conn, catalog, db, name, request, i, result)
                continue
            with writes.savepoint(conn):
                _apply_request(conn, catalog, db, name, request, i, result)
        except PyMongoError as exc:
            code = getattr(exc, "code", None) or 2
            details = dict(getattr(exc, "details", None) or {})
            error = {**details, "index": i, "code": code, "errmsg": details.get("errmsg", str(exc))}
            error["op"] = request._doc if isinstance(request, InsertOne) else _op(request)
            result["writeErrors"].append(error)
            if ordered:
                break
    return result


def _insert_fast(
    conn: sqlite3.Connection, catalog: Catalog, db: str, name: str, requests: list[Any]
) -> bool:
    """Insert a batch of plain inserts at once; False (nothing written) on any error."""
    if len(requests) < 2 or not all(isinstance(r, InsertOne) for r in requests):
        return False
    if _has_unique_index(catalog, db, name):
        return False
    coll = writes.collection(conn, catalog, db, name)
    try:
        docs = [documents.prepare_insert(r._doc) for r in requests]
        writes.insert_batch(conn, coll, catalog, docs)  # writes nothing if it fails
    except (PyMongoError, sqlite3.IntegrityError, ValueError, TypeError):
        return False
    return True


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
