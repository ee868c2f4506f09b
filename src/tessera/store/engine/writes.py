"""Write operations, run on the writer thread inside the engine's transaction.

Each function validates its input before changing anything and raises PyMongo's errors;
the engine rolls the job back to its SAVEPOINT on any exception, so a failed write leaves
the file as it was. Documents and index entries change together.
"""

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from bson.objectid import ObjectId
from pymongo.errors import DuplicateKeyError, ExecutionTimeout, OperationFailure, WriteError

from tessera.store.bounds import deadlines
from tessera.store.bounds.limits import DOCUMENT_BYTES, OBJECT_TOO_LARGE
from tessera.store.engine import documents, fts
from tessera.store.engine.catalog import ID_INDEX, Catalog, CollectionInfo, IndexInfo, index_entries
from tessera.store.engine.keys import EMPTY_ARRAY
from tessera.store.engine.reads import Row, matches
from tessera.store.update.update import Apply, apply_replacement, compile_update
from tessera.store.update.upserts import upsert_seed
from tessera.store.values.ordering import equal

__all__ = [
    "build_index",
    "collection",
    "compile_change",
    "delete",
    "duplicate_key_error",
    "find_and_modify",
    "insert",
    "insert_batch",
    "insert_upsert",
    "modify",
    "remove",
    "replace",
    "savepoint",
    "update",
]

_IMMUTABLE_ID = 66
_BAD_VALUE = 2


@contextlib.contextmanager
def savepoint(conn: sqlite3.Connection) -> Iterator[None]:
    """Make the enclosed writes one atomic step inside a larger transaction."""
    conn.execute("SAVEPOINT step")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK TO step")
        conn.execute("RELEASE step")
        raise
    conn.execute("RELEASE step")


def collection(conn: sqlite3.Connection, catalog: Catalog, db: str, name: str) -> CollectionInfo:
    """The collection, created on first write as MongoDB does."""
    return catalog.get(db, name) or catalog.create_collection(conn, db, name)


def insert(conn: sqlite3.Connection, coll: CollectionInfo, catalog: Catalog, doc: dict) -> None:
    """Store a prepared document (see `documents.prepare_insert`)."""
    entries = _entries(conn, coll, catalog, doc)
    data = _encode_insert(doc)
    try:
        cur = conn.execute(
            f"INSERT INTO {coll.table} (id, doc) VALUES (?, ?)",
            (documents.id_key(doc["_id"]), data),
        )
    except sqlite3.IntegrityError:
        raise duplicate_key_error(coll, ID_INDEX, (doc["_id"],)) from None
    rid = int(cur.lastrowid or 0)
    for index, keys in entries:
        _add_keys(conn, coll, index, rid, keys)
    for index in _text_indexes(coll):
        fts.add(conn, index, rid, doc)


def insert_batch(
    conn: sqlite3.Connection, coll: CollectionInfo, catalog: Catalog, docs: Iterable[dict]
) -> int:
    """Store prepared documents in a few statements, and say how many; any error aborts
    the whole batch.

    Meant for collections without unique secondary indexes. Every error but a duplicate
    key comes before the first write, and that one this undoes itself, so the caller
    can fall back to one insert at a time without a savepoint (under one, SQLite copies
    each page the batch touches to a journal: about a fifth of a bulk insert's time).
    """
    top = conn.execute(f"SELECT max(rid) FROM {coll.table}").fetchone()[0] or 0
    rows = []
    entries: dict[str, list[tuple[bytes, int]]] = {}
    texts = _text_indexes(coll)
    searchable = []
    for rid, doc in enumerate(docs, start=top + 1):
        for index, keys in _entries(conn, coll, catalog, doc):
            pairs = entries.setdefault(index.table or "", [])
            for key in keys:
                pairs.append((key, rid))
        rows.append((rid, documents.id_key(doc["_id"]), _encode_insert(doc)))
        if texts:
            searchable.append((rid, doc))
    try:
        conn.executemany(f"INSERT INTO {coll.table} (rid, id, doc) VALUES (?, ?, ?)", rows)
        for table, pairs in entries.items():
            pairs.sort()  # in key order each index page is visited once, not once per entry
            conn.executemany(f"INSERT INTO {table} (key, rid) VALUES (?, ?)", pairs)
    except sqlite3.IntegrityError:
        for table in entries:
            conn.execute(f"DELETE FROM {table} WHERE rid > ?", (top,))
        conn.execute(f"DELETE FROM {coll.table} WHERE rid > ?", (top,))
        raise
    for index in texts:  # after the only statements that can fail
        fts.add_many(conn, index, searchable)
    return len(rows)


def replace(
    conn: sqlite3.Connection,
    coll: CollectionInfo,
    catalog: Catalog,
    rid: int,
    old: Mapping[str, Any],
    new: dict,
) -> None:
    """Store `new` in place of `old` (same `_id`), moving only the index entries that change."""
    if not equal(old.get("_id"), new.get("_id")):
        raise WriteError(
            "Performing an update on the path '_id' would modify the immutable field '_id'",
            code=_IMMUTABLE_ID,
        )
    documents.validate_stored(new)
    new_entries = _entries(conn, coll, catalog, new)
    data = documents.encode(new)
    if len(data) > DOCUMENT_BYTES:
        raise WriteError(
            f"Resulting document after update is larger than {DOCUMENT_BYTES}", OBJECT_TOO_LARGE
        )
    for index in _text_indexes(coll):
        fts.replace(conn, index, rid, old, new)
    for index, keys in new_entries:
        old_keys, _ = index_entries(index, old)
        gone = [k for k in old_keys if k not in keys]
        if gone:
            conn.executemany(
                f"DELETE FROM {index.table} WHERE key = ? AND rid = ?", [(k, rid) for k in gone]
            )
        added = {k: v for k, v in keys.items() if k not in old_keys}
        _add_keys(conn, coll, index, rid, added)
    conn.execute(f"UPDATE {coll.table} SET doc = ? WHERE rid = ?", (data, rid))


def _encode_insert(doc: Mapping[str, Any]) -> bytes:
    """The BSON of a document to insert; over 16 MB it is refused, as MongoDB refuses it."""
    data = documents.encode(doc)
    if len(data) > DOCUMENT_BYTES:
        raise WriteError(
            f"object to insert too large. size in bytes: {len(data)}, max size: {DOCUMENT_BYTES}",
            _BAD_VALUE,
        )
    return data


def remove(conn: sqlite3.Connection, coll: CollectionInfo, rid: int) -> None:
    """Delete one document and its index entries."""
    for index in coll.indexes.values():
        if index.text is not None:
            fts.remove(conn, index, rid)
        else:
            conn.execute(f"DELETE FROM {index.table} WHERE rid = ?", (rid,))
    conn.execute(f"DELETE FROM {coll.table} WHERE rid = ?", (rid,))


def build_index(
    conn: sqlite3.Connection, coll: CollectionInfo, catalog: Catalog, index: IndexInfo
) -> None:
    """Fill a new index from the existing documents (DuplicateKeyError if unique fails)."""
    multikey = False
    with deadlines.interruptible(conn):
        stored = conn.execute(f"SELECT rid, doc FROM {coll.table}").fetchall()
    if index.text is not None:
        found = deadlines.checked(stored, 16)
        fts.add_many(conn, index, ((rid, documents.decode(data)) for rid, data in found))
        return
    for rid, data in deadlines.checked(stored, 16):
        keys, is_multi = index_entries(index, documents.decode(data))
        multikey = multikey or is_multi
        _add_keys(conn, coll, index, rid, keys)
    if multikey:
        catalog.mark_multikey(conn, coll, index)


def update(
    conn: sqlite3.Connection,
    catalog: Catalog,
    db: str,
    name: str,
    filter: Mapping[str, Any],
    change: Any,
    *,
    multi: bool,
    upsert: bool = False,
    replacement: bool = False,
    array_filters: Sequence[Mapping[str, Any]] | None = None,
    sort: Sequence[tuple[str, int]] | None = None,
) -> dict[str, Any]:
    """update_one / update_many / replace_one; returns MongoDB's raw result."""
    apply = compile_change(change, filter, array_filters, replacement)
    coll = catalog.get(db, name)
    found = matches(conn, coll, filter, sort=sort, limit=0 if multi else 1)
    if not found:
        if not upsert:
            return {"n": 0, "nModified": 0}
        upserted = insert_upsert(conn, catalog, db, name, filter, change, apply)
        return {"n": 1, "nModified": 0, "upserted": upserted}
    assert coll is not None
    modified = 0
    for rid, doc in found:
        if modify(conn, coll, catalog, rid, doc, change, apply):
            modified += 1
    return {"n": len(found), "nModified": modified}


def insert_upsert(
    conn: sqlite3.Connection,
    catalog: Catalog,
    db: str,
    name: str,
    filter: Mapping[str, Any],
    change: Any,
    apply: Apply | None,
) -> Any:
    """Insert the document an upsert that matched nothing makes; return its `_id`."""
    coll = collection(conn, catalog, db, name)
    doc = _upsert_document(filter, change, apply)
    insert(conn, coll, catalog, doc)
    return doc["_id"]


def delete(
    conn: sqlite3.Connection,
    catalog: Catalog,
    db: str,
    name: str,
    filter: Mapping[str, Any],
    *,
    multi: bool,
) -> int:
    """delete_one / delete_many; returns how many documents went."""
    coll = catalog.get(db, name)
    found = matches(conn, coll, filter, limit=0 if multi else 1)
    if coll is None:
        return 0
    for rid, _ in found:
        remove(conn, coll, rid)
    return len(found)


def find_and_modify(
    conn: sqlite3.Connection,
    catalog: Catalog,
    db: str,
    name: str,
    filter: Mapping[str, Any],
    change: Any,
    *,
    kind: str,
    sort: Sequence[tuple[str, int]] | None,
    upsert: bool,
    return_after: bool,
    array_filters: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any] | None:
    """find_one_and_update / _replace / _delete: the document before or after the change."""
    apply = (
        None
        if kind == "delete"
        else compile_change(change, filter, array_filters, kind == "replace")
    )
    coll = catalog.get(db, name)
    found: list[Row] = matches(conn, coll, filter, sort=sort, limit=1)
    if not found:
        if not upsert or kind == "delete":
            return None
        coll = coll or collection(conn, catalog, db, name)
        doc = _upsert_document(filter, change, apply)
        insert(conn, coll, catalog, doc)
        return doc if return_after else None
    assert coll is not None
    rid, doc = found[0]
    if kind == "delete":
        remove(conn, coll, rid)
        return doc
    before = documents.copy(doc)
    modify(conn, coll, catalog, rid, doc, change, apply)
    return doc if return_after else before


def duplicate_key_error(
    coll: CollectionInfo, index: IndexInfo, values: Sequence[Any]
) -> DuplicateKeyError:
    """DuplicateKeyError with MongoDB's message, keyPattern and keyValue."""
    key_value = {
        field: ([] if value is EMPTY_ARRAY else value)
        for (field, _), value in zip(index.fields, values, strict=False)
    }
    shown = ", ".join(f"{field}: {_show(value)}" for field, value in key_value.items())
    message = (
        f"E11000 duplicate key error collection: {coll.db}.{coll.name} "
        f"index: {index.name} dup key: {{ {shown} }}"
    )
    details = {
        "index": 0,
        "code": 11000,
        "errmsg": message,
        "keyPattern": index.key_pattern,
        "keyValue": key_value,
    }
    return DuplicateKeyError(message, 11000, details)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, ObjectId):
        return f"ObjectId('{value}')"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


@contextlib.contextmanager
def _as_write_error() -> Iterator[None]:
    """A failure while applying an update is a WriteError, as the server reports it."""
    try:
        yield
    except (WriteError, ExecutionTimeout):  # a time limit is no fault of the update's
        raise
    except OperationFailure as exc:
        raise WriteError(str(exc), exc.code, exc.details) from exc


def compile_change(
    change: Any,
    filter: Mapping[str, Any],
    array_filters: Sequence[Mapping[str, Any]] | None,
    replacement: bool,
) -> Apply | None:
    """The compiled update (None for a replacement), validated before anything is written."""
    if replacement:
        documents.validate_stored(change)
        return None
    with _as_write_error():
        return compile_update(
            change, query=filter, array_filters=list(array_filters) if array_filters else None
        )


def modify(
    conn: sqlite3.Connection,
    coll: CollectionInfo,
    catalog: Catalog,
    rid: int,
    doc: dict,
    change: Any,
    apply: Apply | None,
) -> bool:
    """Apply the update (or replacement when `apply` is None) to `doc` in place and store
    it; False when nothing changed."""
    old = documents.copy(doc)
    if apply is None:
        new = apply_replacement(old, change)
        if documents.same(new, old):
            return False
        doc.clear()
        doc.update(new)
    else:
        with _as_write_error():
            changed = apply(doc, False)
        if not changed:
            return False
    replace(conn, coll, catalog, rid, old, doc)
    return True


def _upsert_document(filter: Mapping[str, Any], change: Any, apply: Apply | None) -> dict:
    seed = upsert_seed(filter)
    if apply is None:
        doc = dict(change)
        if "_id" not in doc and "_id" in seed:
            doc = {"_id": seed["_id"], **doc}
    else:
        doc = seed
        with _as_write_error():
            apply(doc, True)
    return documents.prepare_insert(doc)


def _entries(
    conn: sqlite3.Connection, coll: CollectionInfo, catalog: Catalog, doc: Mapping[str, Any]
) -> list[tuple[IndexInfo, dict[bytes, tuple[Any, ...]]]]:
    out = []
    for index in coll.indexes.values():
        if index.text is not None:
            index.text.language_of(doc)  # an unsupported language fails before any write
            continue
        keys, multikey = index_entries(index, doc)
        if multikey and not index.multikey:
            catalog.mark_multikey(conn, coll, index)
        out.append((index, keys))
    return out


def _text_indexes(coll: CollectionInfo) -> list[IndexInfo]:
    return [index for index in coll.indexes.values() if index.text is not None]


def _add_keys(
    conn: sqlite3.Connection,
    coll: CollectionInfo,
    index: IndexInfo,
    rid: int,
    keys: Mapping[bytes, tuple[Any, ...]],
) -> None:
    if not keys:
        return
    sql = f"INSERT INTO {index.table} (key, rid) VALUES (?, ?)"
    if not index.unique:
        if len(keys) == 1:
            conn.execute(sql, (next(iter(keys)), rid))
        else:
            conn.executemany(sql, [(k, rid) for k in keys])
        return
    for key, values in keys.items():
        try:
            conn.execute(sql, (key, rid))
        except sqlite3.IntegrityError:
            raise duplicate_key_error(coll, index, values) from None
