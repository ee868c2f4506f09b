"""The bitwise query operators: ``$bitsAllSet``, ``$bitsAnySet``, ``$bitsAllClear`` and
``$bitsAnyClear``.

The argument names bits by a non-negative integer mask, a BinData mask, or an array of
bit positions (0 the least significant). A value is tested when it is a number that a
64-bit integer holds exactly (negatives in two's complement, so their bits past 63 are
set) or BinData (bit 0 is the first byte's lowest); any other value does not match.
"""

from collections.abc import Callable
from typing import Any

from bson.decimal128 import Decimal128
from bson.int64 import Int64
from pymongo.errors import OperationFailure

__all__ = ["OPERATORS", "bit_test"]

OPERATORS = ("$bitsAllSet", "$bitsAnySet", "$bitsAllClear", "$bitsAnyClear")
_BAD_VALUE = 2
_INT64 = 2**63


def bit_test(name: str, arg: Any) -> Callable[[Any], bool]:
    """The test of one value for operator `name` with argument `arg` (BadValue, code 2,
    for an argument MongoDB refuses)."""
    positions = _positions(name, arg)
    want_set = name in ("$bitsAllSet", "$bitsAnySet")
    every = name in ("$bitsAllSet", "$bitsAllClear")

    def test(value: Any) -> bool:
        read = _bit_reader(value)
        if read is None:
            return False
        hits = (read(p) == want_set for p in positions)
        return all(hits) if every else any(hits)

    return test


def _positions(name: str, arg: Any) -> list[int]:
    if isinstance(arg, bytes):
        return [p for p in range(len(arg) * 8) if arg[p // 8] >> (p % 8) & 1]
    if isinstance(arg, list):
        for position in arg:
            if not _whole(position):
                raise _fail(f"bit positions must be an integer but got: {position!r}")
            if int(position) < 0:
                raise _fail(f"bit positions must be >= 0 but got: {position!r}")
        return [int(p) for p in arg]
    if _whole(arg):
        mask = int(_number(arg))
        if mask < 0:
            raise _fail(f"{name} bitmask must be a non-negative integer, got {arg!r}")
        if mask >= _INT64:
            raise _fail(f"{name} bitmask must fit in a 64-bit integer, got {arg!r}")
        return [p for p in range(mask.bit_length()) if mask >> p & 1]
    raise _fail(f"{name} takes an Array, a number, or a BinData but received: {arg!r}")


def _bit_reader(value: Any) -> Callable[[int], bool] | None:
    if isinstance(value, bytes):
        return lambda p: p < len(value) * 8 and bool(value[p // 8] >> (p % 8) & 1)
    if not _whole(value):
        return None
    number = int(_number(value))
    if not -_INT64 <= number < _INT64:
        return None
    # Python's ints are two's complement with infinite sign bits: a negative number has
    # every bit past 63 set, as MongoDB's 64-bit integers sign-extend.
    return lambda p: bool(number >> p & 1)


def _number(value: Any) -> Any:
    return value.to_decimal() if isinstance(value, Decimal128) else value


def _whole(value: Any) -> bool:
    """A number with no fractional part (not a bool, NaN or an infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Int64 | Decimal128):
        return False
    number = _number(value)
    try:
        return bool(number == int(number))
    except (ValueError, OverflowError):  # NaN, infinities
        return False


def _fail(message: str) -> OperationFailure:
    return OperationFailure(message, _BAD_VALUE, {"ok": 0, "errmsg": message, "code": _BAD_VALUE})
