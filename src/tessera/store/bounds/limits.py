"""MongoDB's memory limits, refused with MongoDB's own codes and messages.

One call must not exhaust the server's memory for everyone: a blocking sort or group
holds at most `BLOCKING_BYTES`, a ``$push`` or ``$addToSet`` at most
`ACCUMULATOR_BYTES`, a ``$range`` at most `RANGE_BYTES`, and a document a pipeline or
an update makes at most 16 MB, as in MongoDB. MongoDB 6.0+ spills a blocking stage to
disk by default instead; the embedded store spills only a find's sort and an
aggregation's leading ``$sort``, and only with ``allowDiskUse`` (see `spill`): past the
limit anywhere else it refuses, and its messages say so.

Sizes are estimates, as MongoDB's are: the BSON length of stored documents where the
caller has it, and `approximate_size` for computed values.
"""

import datetime
from collections.abc import Mapping
from typing import Any

from bson.objectid import ObjectId
from pymongo.errors import OperationFailure

__all__ = [
    "ACCUMULATOR_BYTES",
    "BLOCKING_BYTES",
    "DOCUMENT_BYTES",
    "EXCEEDED_MEMORY_LIMIT",
    "INTERNAL_DOCUMENT_BYTES",
    "NO_DISK_USE",
    "OBJECT_TOO_LARGE",
    "RANGE_BYTES",
    "accumulator_error",
    "approximate_size",
    "document_error",
    "group_error",
    "range_error",
    "sort_error",
]

MB = 1024 * 1024
#: internalQueryMaxBlockingSortMemoryUsageBytes and internalDocumentSourceGroupMaxMemoryBytes.
BLOCKING_BYTES = 100 * MB
#: internalQueryMaxPushBytes and internalQueryMaxAddToSetBytes.
ACCUMULATOR_BYTES = 100 * MB
#: internalQueryMaxRangeBytes.
RANGE_BYTES = 100 * MB
#: BSONObjMaxUserSize: the largest document a user may store.
DOCUMENT_BYTES = 16 * MB
#: BSONObjMaxInternalSize: the largest document the server builds, replies included.
INTERNAL_DOCUMENT_BYTES = DOCUMENT_BYTES + 16 * 1024

EXCEEDED_MEMORY_LIMIT = 146
NO_DISK_USE = 292  # QueryExceededMemoryLimitNoDiskUseAllowed
OBJECT_TOO_LARGE = 10334  # BSONObjectTooLarge

_NO_SPILL = "the embedded store cannot spill to disk yet, so allowDiskUse does not help"
# Bytes per value of each fixed-size type, as BSON stores it (a type byte and the value).
_FIXED = {
    int: 9,
    float: 9,
    bool: 2,
    type(None): 1,
    datetime.datetime: 9,
    ObjectId: 13,
}


def approximate_size(value: Any) -> int:
    """About the BSON size of `value` in bytes (field names included): about 2 µs for a
    small document. Strings count one byte per character."""
    try:
        return _size(value)
    except RecursionError:  # nested deeper than the stack: walk it without recursion
        return _size_flat(value)


def _size(value: Any) -> int:
    kind = value.__class__
    fixed = _FIXED.get(kind)
    if fixed is not None:
        return fixed
    if kind is str:
        return len(value) + 6
    if kind is dict or isinstance(value, Mapping):
        total = 5
        for name, item in value.items():
            total += len(name) + 1 + _size(item)
        return total
    if kind is list or kind is tuple:
        total = 5
        for item in value:
            total += 4 + _size(item)
        return total
    return len(value) + 10 if kind is bytes else 17


def _size_flat(value: Any) -> int:
    total = 0
    stack = [value]
    while stack:
        value = stack.pop()
        kind = value.__class__
        if kind is dict or isinstance(value, Mapping):
            total += 5 + sum(len(name) + 1 for name in value)
            stack.extend(value.values())
        elif kind is list or kind is tuple:
            total += 5 + 4 * len(value)
            stack.extend(value)
        else:
            total += _size(value)
    return total


def _failure(code: int, message: str, name: str) -> OperationFailure:
    """An `OperationFailure` shaped like the server's reply, with its code name."""
    details = {"ok": 0.0, "errmsg": message, "code": code, "codeName": name}
    return OperationFailure(message, code, details)


def sort_error() -> OperationFailure:
    """A blocking sort over `BLOCKING_BYTES` (MongoDB's message, and where spilling helps)."""
    return _failure(
        NO_DISK_USE,
        f"Sort exceeded memory limit of {BLOCKING_BYTES} bytes, but did not opt in to "
        "external sorting: pass allowDiskUse to sort through temporary files (a find's sort "
        "or an aggregation's leading $sort; the embedded store spills no other stage), or "
        "sort with an index, add a $limit or narrow the filter",
        "QueryExceededMemoryLimitNoDiskUseAllowed",
    )


def group_error() -> OperationFailure:
    """A ``$group`` holding more than `BLOCKING_BYTES`."""
    return _failure(
        NO_DISK_USE,
        f"Exceeded memory limit for $group ({BLOCKING_BYTES} bytes), but didn't allow "
        f"external sort: {_NO_SPILL}; group fewer documents or keep fewer values",
        "QueryExceededMemoryLimitNoDiskUseAllowed",
    )


def accumulator_error(name: str, used: int) -> OperationFailure:
    """A ``$push`` or ``$addToSet`` holding `ACCUMULATOR_BYTES` or more."""
    return _failure(
        EXCEEDED_MEMORY_LIMIT,
        f"{name} used too much memory and cannot spill to disk. Used: {used} bytes. "
        f"Memory limit: {ACCUMULATOR_BYTES} bytes",
        "ExceededMemoryLimit",
    )


def range_error(needed: int) -> OperationFailure:
    """A ``$range`` whose array would take `RANGE_BYTES` or more."""
    return _failure(
        EXCEEDED_MEMORY_LIMIT,
        f"$range would use too much memory ({needed} bytes) and cannot spill to disk. "
        f"Memory limit: {RANGE_BYTES} bytes",
        "ExceededMemoryLimit",
    )


def document_error(size: int, doc: Mapping[str, Any]) -> OperationFailure:
    """A document a pipeline made that is larger than MongoDB builds."""
    first = next(iter(doc.items()), None)
    shown = "" if first is None else f"{first[0]}: {first[1]!r}"[:100]
    return _failure(
        OBJECT_TOO_LARGE,
        f"BSONObj size: {size} (0x{size:X}) is invalid. Size must be between 0 and "
        f"{INTERNAL_DOCUMENT_BYTES}(16MB) First element: {shown}",
        "BSONObjectTooLarge",
    )
