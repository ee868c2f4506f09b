"""Unified-format operations as PyMongo async calls, and PyMongo results in the spec's shapes."""

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pymongo import DeleteMany, DeleteOne, InsertOne, ReplaceOne, ReturnDocument, UpdateMany
from pymongo import UpdateOne as UpdateOneModel
from pymongo.results import (
    BulkWriteResult,
    DeleteResult,
    InsertManyResult,
    InsertOneResult,
    UpdateResult,
)

__all__ = ["OPERATIONS", "RunnerError", "bulk_result", "execute", "shape"]


class RunnerError(Exception):
    """Something in a test file that this runner cannot do; never mistaken for the store's error."""


@dataclass(frozen=True)
class Operation:
    """A PyMongo method, the spec arguments it takes by position, and its other arguments."""

    method: str
    positional: tuple[str, ...] = ()
    options: frozenset[str] = frozenset()


_READ = frozenset({"collation", "hint", "let"})
_WRITE = _READ | {"bypassDocumentValidation"}
_UPDATE = _WRITE | {"upsert", "arrayFilters", "sort"}
_FIND_AND = _WRITE | {"projection", "sort", "upsert", "returnDocument", "arrayFilters"}

OPERATIONS: dict[str, Operation] = {
    "insertOne": Operation("insert_one", ("document",), _WRITE),
    "insertMany": Operation("insert_many", ("documents",), _WRITE | {"ordered"}),
    "updateOne": Operation("update_one", ("filter", "update"), _UPDATE),
    "updateMany": Operation("update_many", ("filter", "update"), _UPDATE - {"sort"}),
    "replaceOne": Operation("replace_one", ("filter", "replacement"), _UPDATE - {"arrayFilters"}),
    "deleteOne": Operation("delete_one", ("filter",), _WRITE),
    "deleteMany": Operation("delete_many", ("filter",), _WRITE),
    "find": Operation(
        "find",
        ("filter",),
        _READ | {"projection", "sort", "skip", "limit", "allowDiskUse", "maxTimeMS"},
    ),
    "findOne": Operation("find_one", ("filter",), frozenset({"projection", "sort", "skip"})),
    "countDocuments": Operation(
        "count_documents", ("filter",), frozenset({"skip", "limit", "collation", "hint"})
    ),
    # The deprecated ``count`` is gone from PyMongo 4; count_documents is its replacement.
    "count": Operation(
        "count_documents", ("filter",), frozenset({"skip", "limit", "collation", "hint"})
    ),
    "estimatedDocumentCount": Operation("estimated_document_count", (), frozenset({"maxTimeMS"})),
    "distinct": Operation("distinct", ("fieldName", "filter"), frozenset({"collation", "hint"})),
    "findOneAndUpdate": Operation("find_one_and_update", ("filter", "update"), _FIND_AND),
    "findOneAndReplace": Operation(
        "find_one_and_replace", ("filter", "replacement"), _FIND_AND - {"arrayFilters"}
    ),
    "findOneAndDelete": Operation(
        "find_one_and_delete", ("filter",), _WRITE | {"projection", "sort"}
    ),
    "bulkWrite": Operation("bulk_write", ("requests",), frozenset({"ordered", "let"}) | _WRITE),
    "aggregate": Operation("aggregate", ("pipeline",), _WRITE | {"allowDiskUse", "maxTimeMS"}),
    "createIndex": Operation("create_index", ("keys",), frozenset({"name", "unique", "sparse"})),
    "dropIndex": Operation("drop_index", ("name",)),
    "listIndexes": Operation("list_indexes"),
    "dropCollection": Operation("drop_collection", ("collection",)),
    "createCollection": Operation(
        "create_collection", ("collection",), frozenset({"viewOn", "pipeline"})
    ),
}

# Options that change nothing this runner checks (no command monitoring): dropped.
IGNORED = {"comment", "batchSize"}

# Spec argument names that PyMongo spells differently.
_KEYWORDS = {
    "arrayFilters": "array_filters",
    "returnDocument": "return_document",
    "bypassDocumentValidation": "bypass_document_validation",
}
# find() takes these in Python style; aggregate() and the counts pass them to the command.
_FIND_KEYWORDS = {"allowDiskUse": "allow_disk_use", "maxTimeMS": "max_time_ms"}

_MAPPING_SORT = {"updateOne", "replaceOne"}

_MODELS: dict[str, tuple[type, tuple[str, ...], frozenset[str]]] = {
    "insertOne": (InsertOne, ("document",), frozenset()),
    "updateOne": (UpdateOneModel, ("filter", "update"), OPERATIONS["updateOne"].options),
    "updateMany": (UpdateMany, ("filter", "update"), OPERATIONS["updateMany"].options),
    "replaceOne": (ReplaceOne, ("filter", "replacement"), OPERATIONS["replaceOne"].options),
    "deleteOne": (DeleteOne, ("filter",), frozenset({"collation", "hint"})),
    "deleteMany": (DeleteMany, ("filter",), frozenset({"collation", "hint"})),
}


def _index_list(value: Any) -> Any:
    """A sort or key document as PyMongo's list of (field, direction) pairs."""
    return list(value.items()) if isinstance(value, Mapping) else value


def _value(operation: str, name: str, value: Any) -> Any:
    # PyMongo documents sort and index keys as (field, direction) lists, except the sort
    # of update_one and replace_one (and their bulk models), which must be a mapping.
    # A hint stays as written: PyMongo takes a name or a key document everywhere.
    if name == "keys" or (name == "sort" and operation not in _MAPPING_SORT):
        return _index_list(value)
    if name == "returnDocument":
        return ReturnDocument.AFTER if value == "After" else ReturnDocument.BEFORE
    if name == "requests":
        return [_model(request) for request in value]
    return value


def _split(
    name: str, arguments: Mapping[str, Any], positional: tuple[str, ...], options: frozenset[str]
) -> tuple[list[Any], dict[str, Any]]:
    """PyMongo's positional and keyword arguments for one spec operation's arguments."""
    unknown = set(arguments) - set(positional) - options - IGNORED
    if unknown:
        raise RunnerError(f"{name}: the runner does not support argument(s) {sorted(unknown)}")
    args = [_value(name, key, arguments[key]) for key in positional if key in arguments]
    keywords = dict(_KEYWORDS, **_FIND_KEYWORDS) if name == "find" else _KEYWORDS
    kwargs = {
        keywords.get(key, key): _value(name, key, value)
        for key, value in arguments.items()
        if key in options
    }
    return args, kwargs


def _model(request: Mapping[str, Any]) -> Any:
    ((name, arguments),) = request.items()
    model, positional, options = _MODELS[name]
    args, kwargs = _split(name, arguments, positional, options)
    return model(*args, **kwargs)


async def execute(target: Any, name: str, arguments: Mapping[str, Any]) -> Any:
    """Run operation ``name`` on a client, database or collection; cursors are read out."""
    operation = OPERATIONS[name]
    args, kwargs = _split(name, arguments, operation.positional, operation.options)
    if name == "count" and not args:
        args = [{}]
    result = getattr(target, operation.method)(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    if hasattr(result, "to_list"):
        result = await result.to_list()
    return result


def bulk_result(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A BulkWriteResult in the spec's shape, from PyMongo's raw bulk API counts."""
    return {
        "deletedCount": raw["nRemoved"],
        "insertedCount": raw["nInserted"],
        "matchedCount": raw["nMatched"],
        "modifiedCount": raw["nModified"],
        "upsertedCount": raw["nUpserted"],
        "upsertedIds": {str(u["index"]): u["_id"] for u in raw.get("upserted", [])},
    }


def shape(result: Any) -> Any:
    """A PyMongo result object as the document the spec describes; other values unchanged."""
    if isinstance(result, InsertOneResult):
        return {"insertedId": result.inserted_id}
    if isinstance(result, InsertManyResult):
        return {"insertedIds": {str(i): _id for i, _id in enumerate(result.inserted_ids)}}
    if isinstance(result, UpdateResult):
        # As in PyMongo's own matched_count, an upsert shows as a non-null upserted_id.
        shaped = {
            "matchedCount": result.matched_count,
            "modifiedCount": result.modified_count,
            "upsertedCount": int(result.upserted_id is not None),
        }
        if result.upserted_id is not None:
            shaped["upsertedId"] = result.upserted_id
        return shaped
    if isinstance(result, DeleteResult):
        return {"deletedCount": result.deleted_count}
    if isinstance(result, BulkWriteResult):
        return bulk_result(result.bulk_api_result)
    return result
