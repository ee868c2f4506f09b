"""Snapshots: the private copy of a plugin's arguments that is checked and then run.

A check that reads the plugin's own objects and a store that reads them again later can
see two different things: a filter changed after ``find()`` returned, a pipeline stage
changed before the cursor runs, a dict subclass that answers the check one way and the
store another, a document changed by a callback while the runtime awaited an index. So
every filter, update, pipeline and document is copied at the call into BSON's plain types
(what MongoDB itself would receive), and that copy is both checked and run.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

import bson
from bson.errors import InvalidDocument
from bson.objectid import ObjectId
from pymongo.operations import (
    DeleteMany,
    DeleteOne,
    IndexModel,
    InsertOne,
    ReplaceOne,
    UpdateMany,
    UpdateOne,
)

__all__ = ["snapshot", "snapshot_index", "snapshot_insert", "snapshot_model", "snapshot_request"]

# Exactly these types are immutable: a subclass could change its answers.
_PLAIN = frozenset({str, int, float, bool, type(None)})
# Values of a flat filter that BSON would give back unchanged (a datetime would lose its
# microseconds and time zone): plain ones kept, ObjectIds copied (their bytes can be set).
_FIXED = _PLAIN | {ObjectId}


def snapshot(value: Any) -> Any:
    """A private deep copy of ``value`` in BSON's plain types (dicts, lists, str...)."""
    if type(value) in _PLAIN:
        return value
    if type(value) is dict and all(type(k) is str and type(v) in _FIXED for k, v in value.items()):
        # The common flat filter, {"_id": oid, "user_id": u}: 10x faster than BSON.
        return {k: ObjectId(v.binary) if type(v) is ObjectId else v for k, v in value.items()}
    try:
        return bson.decode(bson.encode({"v": value}))["v"]
    except RecursionError:
        raise InvalidDocument("the value nests documents or arrays too deeply") from None


def snapshot_insert(document: Any) -> Any:
    """The copy of a document to insert; the plugin's own dict gets its ``_id`` first, as
    PyMongo gives it one, so ``document["_id"]`` works after the insert."""
    if isinstance(document, MutableMapping) and "_id" not in document:
        document["_id"] = ObjectId()
    return snapshot(document) if isinstance(document, Mapping) else document


def snapshot_index(keys: Any) -> Any:
    """The copy of an index specification: a name, ``(field, direction)`` pairs, or a
    mapping, as PyMongo takes them."""
    copy = snapshot(keys)
    if isinstance(copy, list):
        return [tuple(item) if isinstance(item, list) else item for item in copy]
    return copy


def snapshot_model(model: Any) -> Any:
    """An ``IndexModel`` rebuilt from a copy of its document; anything else as is."""
    if not isinstance(model, IndexModel):
        return model
    options = snapshot(dict(model.document))
    keys = list(options.pop("key").items())
    return IndexModel(keys, **options)


def snapshot_request(request: Any) -> Any:
    """A PyMongo write request rebuilt around copies of its filter and document (its other
    options do not decide whose documents it touches); anything else comes back as is."""
    if isinstance(request, InsertOne):
        return InsertOne(snapshot_insert(request._doc))
    if not isinstance(request, DeleteOne | DeleteMany | ReplaceOne | UpdateOne | UpdateMany):
        return request
    filter = snapshot(request._filter)
    options: dict[str, Any] = {"collation": request._collation, "hint": request._hint}
    if isinstance(request, DeleteOne | DeleteMany):
        return type(request)(filter, **options)
    document = snapshot(request._doc)
    upsert = bool(request._upsert)
    if isinstance(request, ReplaceOne):
        copy: Any = ReplaceOne(filter, document, upsert, **options)
    else:
        arrays = request._array_filters
        copy = type(request)(filter, document, upsert, array_filters=arrays, **options)
    if getattr(request, "_sort", None) is not None:
        copy._sort = request._sort
    return copy
