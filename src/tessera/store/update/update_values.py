"""What the update operators share: MongoDB's error codes and write errors, values
copied as BSON stores them, and the arithmetic of ``$inc`` and ``$mul``."""

import datetime
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from bson.decimal128 import Decimal128, create_decimal128_context
from bson.int64 import Int64
from bson.objectid import ObjectId
from pymongo.errors import WriteError

from tessera.store.values.ordering import NUMBER, type_rank

BAD_VALUE = 2
FAILED_TO_PARSE = 9
TYPE_MISMATCH = 14
CONFLICTING_UPDATE = 40
DOLLAR_PREFIXED_FIELD = 52
NOT_SINGLE_VALUE = 54
EMPTY_PATH = 56
IMMUTABLE_FIELD = 66

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_DECIMAL_CONTEXT = create_decimal128_context()
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


# --- numbers -----------------------------------------------------------------------------


def is_number(value: Any) -> bool:
    """A BSON number (booleans are not), as ``$inc`` and ``$mul`` take."""
    return type_rank(value) == NUMBER and not isinstance(value, bool)


def arithmetic(op: str, a: Any, b: Any) -> Any:
    """``a`` plus (``$inc``) or times (``$mul``) ``b`` in the widest of their types, as
    MongoDB stores it: an int that outgrows 32 bits becomes a long, one outgrowing 64 an
    error."""
    multiply = op == "$mul"
    if isinstance(a, Decimal128) or isinstance(b, Decimal128):
        x, y = (v.to_decimal() if isinstance(v, Decimal128) else Decimal(v) for v in (a, b))
        with_context = _DECIMAL_CONTEXT.multiply if multiply else _DECIMAL_CONTEXT.add
        return Decimal128(with_context(x, y))
    if isinstance(a, float) or isinstance(b, float):
        return float(a) * float(b) if multiply else float(a) + float(b)
    result = int(a) * int(b) if multiply else int(a) + int(b)
    if not _INT64_MIN <= result <= _INT64_MAX:
        raise write_error(f"Failed to apply {op}: the result of {a!r} and {b!r} overflows", 2)
    if isinstance(a, Int64) or isinstance(b, Int64) or not _INT32_MIN <= result <= _INT32_MAX:
        return Int64(result)
    return result
