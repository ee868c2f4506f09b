"""What the update operators share: MongoDB's error codes and write errors, and values
copied as BSON stores them."""

import datetime
from collections.abc import Callable, Mapping
from typing import Any

from bson.int64 import Int64
from bson.objectid import ObjectId
from pymongo.errors import WriteError

BAD_VALUE = 2
FAILED_TO_PARSE = 9
TYPE_MISMATCH = 14
CONFLICTING_UPDATE = 40
DOLLAR_PREFIXED_FIELD = 52
NOT_SINGLE_VALUE = 54
EMPTY_PATH = 56
IMMUTABLE_FIELD = 66

_IMMUTABLE = frozenset([str, int, float, bool, type(None), Int64, ObjectId, bytes])

Path = tuple[str, ...]
# Applies one operator to one field of a document (its path, the update's context); True
# when the document changed.
Run = Callable[[dict[str, Any], Path, Any], bool]


def write_error(message: str, code: int) -> WriteError:
    """PyMongo's WriteError as a server reports it for the first write of a batch."""
    return WriteError(message, code, {"index": 0, "code": code, "errmsg": message})


# --- values ------------------------------------------------------------------------------


def stored_copy(value: Any) -> Any:
    """A deep copy of `value` as BSON stores it: datetimes naive UTC, to the millisecond."""
    kind = value.__class__
    if kind in _IMMUTABLE:
        return value
    if kind is dict:
        return {key: stored_copy(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [stored_copy(item) for item in value]
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        if value.microsecond % 1000:
            value = value.replace(microsecond=value.microsecond // 1000 * 1000)
        return value
    if isinstance(value, Mapping):
        return {key: stored_copy(item) for key, item in value.items()}
    return value


def dotted(parts: Path) -> str:
    """A path's parts joined back into its dotted name."""
    return ".".join(parts)
