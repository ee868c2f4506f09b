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
import reprlib
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
    "check_keyed",
    "check_made_array",
    "check_made_string",
    "document_error",
    "group_error",
    "range_error",
    "sort_error",
    "value_error",
]

MB = 1024 * 1024
#: internalQueryMaxBlockingSortMemoryUsageBytes and internalDocumentSourceGroupMaxMemoryBytes.
BLOCKING_BYTES = 100 * MB
#: internalQueryMaxPushBytes and internalQueryMaxAddToSetBytes.
ACCUMULATOR_BYTES = 100 * MB
#: internalQueryMaxRangeBytes.
RANGE_BYTES = 100 * MB
#: Bytes an array's item takes in memory, at least (a reference and its share of the list),
#: for arrays an expression makes: ``$range``, ``$concatArrays``, ``$zip``.
ARRAY_ITEM_BYTES = 16
#: BSONObjMaxUserSize: the largest document a user may store.
DOCUMENT_BYTES = 16 * MB
#: BSONObjMaxInternalSize: the largest document the server builds, replies included.
INTERNAL_DOCUMENT_BYTES = DOCUMENT_BYTES + 16 * 1024

EXCEEDED_MEMORY_LIMIT = 146
NO_DISK_USE = 292  # QueryExceededMemoryLimitNoDiskUseAllowed
OBJECT_TOO_LARGE = 10334  # BSONObjectTooLarge

# A value shown in an error: a few levels and items of it (a pipeline's value can be huge).
_short = reprlib.Repr()
_short.maxlevel = 3
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
    small document. Strings count one byte per character.

    A pipeline's values may share parts (``{"b": "$$value", "c": "$$value"}`` in a
    ``$reduce`` doubles a document's size at each step, not its memory), so each document
    and array is measured once, however many times it appears: 40 steps make a document of
    terabytes, measured in microseconds rather than walked for days."""
    try:
        return _size(value, {})
    except RecursionError:  # nested deeper than the stack: walk it without recursion
        return _size_flat(value)


def _size(value: Any, seen: dict[int, int]) -> int:
    kind = value.__class__
    fixed = _FIXED.get(kind)
    if fixed is not None:
        return fixed
    if kind is str:
        return len(value) + 6
    if kind is dict or kind is list or kind is tuple or isinstance(value, Mapping):
        known = seen.get(id(value))
        if known is None:
            known = seen[id(value)] = _container(value, seen)
        return known
    return len(value) + 10 if kind is bytes else 17


def _container(value: Any, seen: dict[int, int]) -> int:
    total = 5
    if value.__class__ is list or value.__class__ is tuple:
        for item in value:
            total += 4 + _size(item, seen)
        return total
    for name, item in value.items():
        total += len(name) + 1 + _size(item, seen)
    return total


def _size_flat(value: Any) -> int:
    """`_size` without recursion: containers after their items, each measured once."""
    seen: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        item, ready = stack.pop()
        if not _is_container(item) or (id(item) in seen and not ready):
            continue
        items = list(item.values() if _is_mapping(item) else item)
        if not ready:
            stack.append((item, True))
            stack.extend((i, False) for i in items if _is_container(i) and id(i) not in seen)
            continue
        names = sum(len(name) + 1 for name in item) if _is_mapping(item) else 4 * len(items)
        seen[id(item)] = 5 + names + sum(_size(i, seen) for i in items)
    return _size(value, seen)


def _is_mapping(value: Any) -> bool:
    return value.__class__ is dict or isinstance(value, Mapping)


def _is_container(value: Any) -> bool:
    return value.__class__ is list or value.__class__ is tuple or _is_mapping(value)


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
    return _used_too_much(name, used, ACCUMULATOR_BYTES)


def _used_too_much(name: str, used: int, limit: int) -> OperationFailure:
    return _failure(
        EXCEEDED_MEMORY_LIMIT,
        f"{name} used too much memory and cannot spill to disk. Used: {used} bytes. "
        f"Memory limit: {limit} bytes",
        "ExceededMemoryLimit",
    )


def range_error(needed: int, operator: str = "$range") -> OperationFailure:
    """An array `operator` would make (a ``$range``, say) taking `RANGE_BYTES` or more."""
    return _failure(
        EXCEEDED_MEMORY_LIMIT,
        f"{operator} would use too much memory ({needed} bytes) and cannot spill to disk. "
        f"Memory limit: {RANGE_BYTES} bytes",
        "ExceededMemoryLimit",
    )


def check_made_string(operator: str, length: int) -> None:
    """Refuse a string of `length` characters that `operator` would make, when no document
    could hold it: doubled in a ``$reduce``, ``$concat`` made strings of gigabytes before
    the result's size was checked, and the server ran out of memory."""
    if length > DOCUMENT_BYTES:
        raise _failure(
            EXCEEDED_MEMORY_LIMIT,
            f"{operator} would make a string of {length} characters, over the "
            f"{DOCUMENT_BYTES} bytes a document holds",
            "ExceededMemoryLimit",
        )


def check_keyed(operator: str, arrays: list[Any]) -> None:
    """Refuse to sort or compare as sets `arrays` larger than a blocking sort may hold:
    each element's key is built (and a sort holds them all), and an array may repeat one
    stored value, or share parts, without taking its memory again: 40,000 copies of a
    1,000-item array held 2.8 GB of keys, 2,000 values sharing parts took minutes."""
    used = approximate_size(arrays)
    if used > BLOCKING_BYTES:
        raise _used_too_much(operator, used, BLOCKING_BYTES)


def check_made_array(operator: str, items: int) -> None:
    """Refuse an array of `items` items that `operator` would make, when it would take
    `RANGE_BYTES` or more, as a ``$range`` does: ``$concatArrays`` doubled in a ``$reduce``
    made arrays of a billion items."""
    needed = items * ARRAY_ITEM_BYTES
    if needed >= RANGE_BYTES:
        raise range_error(needed, operator)


def value_error(size: int) -> OperationFailure:
    """A value larger than any document may be, met where it is compared or measured."""
    return _failure(
        OBJECT_TOO_LARGE,
        f"BSONObj size: {size} (0x{size:X}) is invalid. Size must be between 0 and "
        f"{INTERNAL_DOCUMENT_BYTES}(16MB): a value this large cannot be compared, grouped "
        "or measured",
        "BSONObjectTooLarge",
    )


def document_error(size: int, doc: Mapping[str, Any]) -> OperationFailure:
    """A document a pipeline made that is larger than MongoDB builds."""
    first = next(iter(doc.items()), None)
    shown = "" if first is None else f"{first[0]}: {_short.repr(first[1])}"[:100]
    return _failure(
        OBJECT_TOO_LARGE,
        f"BSONObj size: {size} (0x{size:X}) is invalid. Size must be between 0 and "
        f"{INTERNAL_DOCUMENT_BYTES}(16MB) First element: {shown}",
        "BSONObjectTooLarge",
    )
