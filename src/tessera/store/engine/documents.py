"""Documents as stored: BSON bytes, `_id` first, validated before anything is written.

BSON is what MongoDB stores, so round trips behave the same: datetimes keep millisecond
precision and come back naive UTC, tz-aware ones are converted to UTC, and every read
returns a fresh dict.
"""

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import bson
from bson.errors import InvalidDocument
from bson.objectid import ObjectId
from bson.regex import Regex
from pymongo.errors import OperationFailure, WriteError

from tessera.store.engine import keys

__all__ = [
    "MAX_ARGUMENT_NESTING",
    "MAX_NESTING",
    "check_argument",
    "copy",
    "decode",
    "encode",
    "id_key",
    "made_too_deep",
    "nested_deeper_than",
    "nesting_error",
    "prepare_insert",
    "same",
    "validate_stored",
]

#: Levels of documents and arrays MongoDB stores, the document itself counted as one.
MAX_NESTING = 100
#: Levels a call's filter, update, pipeline, projection or sort may nest, itself counted:
#: 20 more than a stored document, as MongoDB takes commands 20 levels deeper than what it
#: stores (room for an update's operators around a document stored whole). The store's
#: evaluators recurse a few Python frames a level: deeper input raised RecursionError.
MAX_ARGUMENT_NESTING = MAX_NESTING + 20
# Values that hold no documents, skipped without the slower `Mapping` check.
_SCALARS = frozenset({str, int, float, bool, type(None), bytes, datetime.datetime, ObjectId})
_INVALID_ID_CODE = 2
_OVERFLOW_CODE = 15
_DOLLAR_FIELD_CODE = 52
# The fewest BSON bytes a level of nesting adds: a type byte, a one-byte name and its
# terminator, a length and the nested document's terminator (an empty one adds no level).
_LEVEL_BYTES = 7


def encode(doc: Mapping[str, Any]) -> bytes:
    """BSON bytes of `doc`; a value BSON cannot hold raises WriteError (code 2), and so
    does nesting deeper than MongoDB stores (code 15).

    The depth is checked only when the bytes are long enough to hold that many levels
    (each takes at least `_LEVEL_BYTES`): most documents skip a second walk of the tree.
    """
    try:
        data = bson.encode(doc)
    except (InvalidDocument, TypeError, OverflowError, RecursionError) as exc:
        _check_depth(doc)  # deeper than MongoDB stores: that is the error to report
        raise WriteError(f"cannot store document: {exc}", code=2) from exc
    if len(data) >= MAX_NESTING * _LEVEL_BYTES:
        _check_depth(doc)
    return data


def _check_depth(doc: Mapping[str, Any]) -> None:
    if nested_deeper_than(doc, MAX_NESTING):
        raise WriteError(
            f"cannot store document: it nests documents and arrays more than {MAX_NESTING} "
            "levels deep",
            code=_OVERFLOW_CODE,
        )


def check_argument(value: Any, what: str) -> None:
    """Refuse `value`, a call's `what` ("filter", "pipeline"...), when it nests deeper than
    `MAX_ARGUMENT_NESTING`, with MongoDB's error for a command nested too deep (code 15)."""
    kind = type(value)
    if kind in _SCALARS:  # the common sort key, "created_at"
        return
    if (kind is dict or kind is list or isinstance(value, Mapping | tuple)) and (
        nested_deeper_than(value, MAX_ARGUMENT_NESTING)
    ):
        raise nesting_error(what)


def nesting_error(what: str) -> OperationFailure:
    """The error of a call's `what` nested deeper than `MAX_ARGUMENT_NESTING`."""
    return _overflow(
        f"{what} nests documents and arrays more than {MAX_ARGUMENT_NESTING} levels deep"
    )


def made_too_deep() -> OperationFailure:
    """The error of an operation that made a value too deep for the store to walk (a
    ``$reduce`` or repeated stages nest a level each time), met as RecursionError."""
    return _overflow(
        "the operation made a value that nests documents and arrays too deeply to be "
        "compared, copied or walked (a $reduce or a repeated stage adds a level each time)"
    )


def _overflow(message: str) -> OperationFailure:
    details = {"ok": 0.0, "errmsg": message, "code": _OVERFLOW_CODE, "codeName": "Overflow"}
    return OperationFailure(message, _OVERFLOW_CODE, details)


def nested_deeper_than(value: Mapping[str, Any] | Sequence[Any], levels: int) -> bool:
    """Whether `value`, a mapping or a list, nests mappings and lists more than `levels`
    deep, itself counted. An empty one adds no level, as in MongoDB."""
    if levels == 0:
        return len(value) > 0
    # Concrete types first: isinstance against the Mapping ABC is the dear part.
    if isinstance(value, dict):
        children: Iterable[Any] = value.values()
    elif isinstance(value, list | tuple) or not isinstance(value, Mapping):
        children = value
    else:
        children = value.values()
    for child in children:
        kind = type(child)
        if kind in _SCALARS:
            continue
        if (kind is dict or kind is list or isinstance(child, tuple | Mapping)) and (
            nested_deeper_than(child, levels - 1)
        ):
            return True
    return False


def copy(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a stored document, as a read would return it (no checks: it is
    already stored)."""
    return bson.decode(bson.encode(doc))


def same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two documents store as the same bytes (field order and types included)."""
    return bson.encode(a) == bson.encode(b)


def decode(data: bytes) -> dict[str, Any]:
    """A fresh dict from stored BSON bytes."""
    return bson.decode(data)


def id_key(value: Any) -> bytes:
    """The primary key of an `_id` value (1, 1.0 and Int64(1) are the same `_id`)."""
    return keys.encode_value(value)


def prepare_insert(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The document to store for an insert: `_id` first, created as an ObjectId if absent.

    The caller's dict gets the new `_id` too, as PyMongo does.
    """
    if type(doc) is not dict and not isinstance(doc, Mapping):
        raise TypeError(f"document must be a dict, not {type(doc).__name__}")
    if "_id" not in doc:
        if isinstance(doc, dict):
            doc["_id"] = ObjectId()
            stored = {"_id": doc["_id"], **doc}
        else:
            stored = {"_id": ObjectId(), **doc}
    else:
        stored = {"_id": doc["_id"], **doc}
    validate_stored(stored)
    return stored


def validate_stored(doc: Mapping[str, Any]) -> None:
    """Refuse what MongoDB (5.0 and later) refuses to store: an array or regex `_id`, or
    an `_id` document with `$`-prefixed fields. Other `$`-prefixed names are stored."""
    for name in doc:
        if not isinstance(name, str):
            raise WriteError(f"field names must be strings, not {name!r}", code=2)
    value = doc.get("_id")
    if type(value) is ObjectId:
        return  # the common case, checked once per document written
    if isinstance(value, list | tuple):
        raise WriteError("The '_id' value cannot be of type array", code=53)
    if isinstance(value, Regex) or type(value).__name__ == "Pattern":
        raise WriteError("can't use a regex for _id", code=_INVALID_ID_CODE)
    if isinstance(value, Mapping) and any(str(k).startswith("$") for k in value):
        raise WriteError(
            f"_id fields may not contain '$'-prefixed fields: {value}", code=_DOLLAR_FIELD_CODE
        )
