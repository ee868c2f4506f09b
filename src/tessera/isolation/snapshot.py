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
from bson.errors import InvalidDocument, InvalidId
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

from tessera.store.engine.documents import check_argument, nesting_error

__all__ = ["snapshot", "snapshot_index", "snapshot_insert", "snapshot_model", "snapshot_request"]

_INT64 = range(-(2**63), 2**63)


def snapshot(value: Any, what: str = "value") -> Any:
    """A private deep copy of ``value`` in BSON's plain types (dicts, lists, str...). One
    nested deeper than the store takes a call's ``what`` (its filter, update...) is refused
    with the store's error, before the checks here walk it."""
    try:
        copy = _copy(value)
    except RecursionError:
        raise nesting_error(what) from None
    check_argument(copy, what)
    return copy


def _copy(value: Any) -> Any:
    """Containers are walked here, not by BSON's C encoder: plugin code (a metaclass's
    ``__hash__``, a mapping's ``items``) may run during the copy and change the plugin's
    containers, which the encoder, iterating them, does not survive (a segfault). Here
    each container's items are taken into a private list first. Types are compared by
    identity, so the common values run no plugin code at all."""
    kind = type(value)
    if kind is str or kind is float or kind is bool or value is None:
        return value
    if kind is int and value in _INT64:
        return value
    if kind is dict or (kind is not list and kind is not tuple and isinstance(value, Mapping)):
        return {_key(key): _copy(item) for key, item in list(value.items())}
    if kind is list or kind is tuple or isinstance(value, list | tuple):
        return [_copy(item) for item in list(value)]
    if kind is ObjectId:
        # Rebuilt from its hex text, which its own method makes from its bytes: those
        # can be set after the call, and be a bytes subclass that lies about its length.
        try:
            return ObjectId(ObjectId.__str__(value))
        except (InvalidId, TypeError):
            raise InvalidDocument("an ObjectId must be 12 bytes") from None
    # Any other BSON value (datetime, Decimal128, Binary, Regex...), alone through BSON.
    return bson.decode(bson.encode({"v": value}))["v"]


def _key(key: Any) -> str:
    if type(key) is not str:
        if not isinstance(key, str):
            raise InvalidDocument(f"documents must have only string keys, not {type(key).__name__}")
        key = str.__str__(key)  # an exact copy of a str subclass's text
    if "\x00" in key:
        raise InvalidDocument("key names must not contain the NULL byte")
    return key


def snapshot_insert(document: Any) -> Any:
    """The copy of a document to insert; the plugin's own dict gets its ``_id`` first, as
    PyMongo gives it one, so ``document["_id"]`` works after the insert."""
    if isinstance(document, MutableMapping) and "_id" not in document:
        document["_id"] = ObjectId()
    return snapshot(document, "document") if isinstance(document, Mapping) else document


def snapshot_index(keys: Any) -> Any:
    """The copy of an index specification: a name, ``(field, direction)`` pairs, or a
    mapping, as PyMongo takes them."""
    copy = snapshot(keys, "index keys")
    if isinstance(copy, list):
        return [tuple(item) if isinstance(item, list) else item for item in copy]
    return copy


def snapshot_model(model: Any) -> Any:
    """An ``IndexModel`` rebuilt from a copy of its document; anything else as is."""
    if not isinstance(model, IndexModel):
        return model
    options = snapshot(dict(model.document), "index")
    keys = list(options.pop("key").items())
    return IndexModel(keys, **options)


def snapshot_request(request: Any) -> Any:
    """A PyMongo write request rebuilt around copies of its filter and document (its other
    options do not decide whose documents it touches); anything else comes back as is."""
    if isinstance(request, InsertOne):
        return InsertOne(snapshot_insert(request._doc))
    if not isinstance(request, DeleteOne | DeleteMany | ReplaceOne | UpdateOne | UpdateMany):
        return request
    filter = snapshot(request._filter, "filter")
    options: dict[str, Any] = {"collation": request._collation, "hint": request._hint}
    if isinstance(request, DeleteOne | DeleteMany):
        return type(request)(filter, **options)
    document = snapshot(
        request._doc, "replacement" if isinstance(request, ReplaceOne) else "update"
    )
    upsert = bool(request._upsert)
    if isinstance(request, ReplaceOne):
        copy: Any = ReplaceOne(filter, document, upsert, **options)
    else:
        arrays = request._array_filters
        copy = type(request)(filter, document, upsert, array_filters=arrays, **options)
    if getattr(request, "_sort", None) is not None:
        copy._sort = request._sort
    return copy
