"""Arithmetic, rounding, logarithms, trigonometry and the accumulating operators
($sum, $avg, $min, $max, $stdDev*), whose list forms ``$group`` also uses."""

import datetime
import math
from collections.abc import Callable
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

from bson.decimal128 import Decimal128
from bson.int64 import Int64

from tessera.store.aggregation.expressions.core import (
    INT32,
    INT64,
    compare_values,
    failure,
    is_number,
    nullish,
    operator,
    to_python_number,
    type_name,
)
from tessera.store.aggregation.expressions.dates import to_millis
from tessera.store.values.paths import MISSING


def _from_python_number(value: int | float | Decimal, decimal: bool) -> Any:
    if decimal or isinstance(value, Decimal):
        return Decimal128(Decimal(value))
    return value


# Exact types (not bool, a subclass of int) that need no conversion: the common case.
_PLAIN_NUMBERS = frozenset({int, float})


def _numbers(name: str, values: tuple[Any, ...]) -> tuple[list[Any], bool] | None:
    """The values as Python numbers and whether a decimal is among them; None on null."""
    if all(type(v) in _PLAIN_NUMBERS for v in values):
        return list(values), False
    if any(nullish(v) for v in values):
        return None
    for v in values:
        if not is_number(v):
            raise failure(
                16554 if name == "$add" else 16555 if name == "$multiply" else 28765,
                f"{name} only supports numeric types, not {type_name(v)}",
            )
    decimal = any(isinstance(v, Decimal128) for v in values)
    nums = [to_python_number(v) for v in values]
    if decimal:
        nums = [Decimal(str(n)) if isinstance(n, float) else Decimal(n) for n in nums]
    return nums, decimal


@operator("$add")
def _add(*values: Any) -> Any:
    if any(nullish(v) for v in values):
        return None
    dates = [v for v in values if isinstance(v, datetime.datetime)]
    if len(dates) > 1:
        raise failure(16612, "only one date allowed in an $add expression")
    numbers = [v for v in values if not isinstance(v, datetime.datetime)]
    parsed = _numbers("$add", tuple(numbers))
    assert parsed is not None
    nums, decimal = parsed
    total = sum(nums, Decimal(0) if decimal else 0)
    if dates:
        return _shift_date(dates[0], total)
    return _from_python_number(total, decimal)


def _shift_date(date: datetime.datetime, millis: Any) -> datetime.datetime:
    return date + datetime.timedelta(milliseconds=round(millis))


@operator("$subtract", 2)
def _subtract(a: Any, b: Any) -> Any:
    if nullish(a) or nullish(b):
        return None
    if isinstance(a, datetime.datetime):
        if isinstance(b, datetime.datetime):
            return Int64(to_millis(a) - to_millis(b))
        if is_number(b):
            return _shift_date(a, -to_python_number(b))
    elif is_number(a) and is_number(b):
        parsed = _numbers("$subtract", (a, b))
        assert parsed is not None
        (x, y), decimal = parsed
        return _from_python_number(x - y, decimal)
    raise failure(16556, f"cant $subtract a {type_name(b)} from a {type_name(a)}")


@operator("$multiply")
def _multiply(*values: Any) -> Any:
    parsed = _numbers("$multiply", values)
    if parsed is None:
        return None
    nums, decimal = parsed
    product: Any = Decimal(1) if decimal else 1
    for n in nums:
        product *= n
    return _from_python_number(product, decimal)


@operator("$divide", 2)
def _divide(a: Any, b: Any) -> Any:
    parsed = _numbers("$divide", (a, b))
    if parsed is None:
        return None
    (x, y), decimal = parsed
    if y == 0:
        raise failure(2, "can't $divide by zero")
    return _from_python_number(Decimal(x) / Decimal(y) if decimal else x / y, decimal)


@operator("$mod", 2)
def _mod(a: Any, b: Any) -> Any:
    parsed = _numbers("$mod", (a, b))
    if parsed is None:
        return None
    (x, y), decimal = parsed
    if y == 0:
        raise failure(16610, "can't $mod by zero")
    if isinstance(x, int) and isinstance(y, int):
        # The result takes the dividend's sign, as in C (Python's % takes the divisor's).
        remainder = abs(x) % abs(y)
        return remainder if x >= 0 else -remainder
    return _from_python_number(math.fmod(x, y) if not decimal else x % y, decimal)


def _unary_number(name: str, fn: Callable[[Any], Any]) -> None:
    @operator(name, 1)
    def op(value: Any) -> Any:
        parsed = _numbers(name, (value,))
        if parsed is None:
            return None
        (x,), decimal = parsed
        return _from_python_number(fn(x), decimal)


def _same_kind(x: Any, result: Any) -> Any:
    return float(result) if isinstance(x, float) else result


_unary_number("$abs", abs)
_unary_number("$ceil", lambda x: _same_kind(x, math.ceil(x)))
_unary_number("$floor", lambda x: _same_kind(x, math.floor(x)))
_unary_number("$exp", math.exp)


def _trigonometric(name: str, fn: Callable[[float], float]) -> None:
    def checked(x: Any) -> float:
        try:
            return fn(float(x))
        except (ValueError, OverflowError):
            raise failure(50989, f"cannot apply {name} to {x}, value out of its domain") from None

    _unary_number(name, checked)


for _name, _fn in (
    ("$sin", math.sin),
    ("$cos", math.cos),
    ("$tan", math.tan),
    ("$asin", math.asin),
    ("$acos", math.acos),
    ("$atan", math.atan),
    ("$sinh", math.sinh),
    ("$cosh", math.cosh),
    ("$tanh", math.tanh),
    ("$asinh", math.asinh),
    ("$acosh", math.acosh),
    ("$atanh", math.atanh),
    ("$degreesToRadians", math.radians),
    ("$radiansToDegrees", math.degrees),
):
    _trigonometric(_name, _fn)


@operator("$atan2", 2)
def _atan2(y: Any, x: Any) -> Any:
    parsed = _numbers("$atan2", (y, x))
    if parsed is None:
        return None
    (a, b), _ = parsed
    return math.atan2(float(a), float(b))


@operator("$sqrt", 1)
def _sqrt(value: Any) -> Any:
    parsed = _numbers("$sqrt", (value,))
    if parsed is None:
        return None
    (x,), _ = parsed
    if x < 0:
        raise failure(28714, "$sqrt's argument must be greater than or equal to 0")
    return math.sqrt(x)


@operator("$ln", 1)
def _ln(value: Any) -> Any:
    return _log("$ln", value, math.e, 28766)


@operator("$log10", 1)
def _log10(value: Any) -> Any:
    return _log("$log10", value, 10, 28761)


@operator("$log", 2)
def _log_base(value: Any, base: Any) -> Any:
    parsed = _numbers("$log", (value, base))
    if parsed is None:
        return None
    (_, b), _ = parsed
    if b <= 0 or b == 1:
        raise failure(28759, "$log's base must be a positive number not equal to 1")
    return _log("$log", value, b, 28758)


def _log(name: str, value: Any, base: float, code: int) -> Any:
    parsed = _numbers(name, (value,))
    if parsed is None:
        return None
    (x,), _ = parsed
    if x <= 0:
        raise failure(code, f"{name}'s argument must be a positive number")
    return math.log(x, base) if base != 10 else math.log10(x)


@operator("$pow", 2)
def _pow(base: Any, exponent: Any) -> Any:
    parsed = _numbers("$pow", (base, exponent))
    if parsed is None:
        return None
    (x, y), decimal = parsed
    if x == 0 and y < 0:
        raise failure(28764, "$pow cannot take a base of 0 and a negative exponent")
    if isinstance(x, int) and isinstance(y, int):
        if y < 0:
            return float(x) ** y
        result = x**y
        # An integer power too big for a long becomes a double, as on the server.
        return result if -INT64 <= result < INT64 else float(result)
    try:
        power = x**y
    except OverflowError:
        return math.inf
    if isinstance(power, complex):  # a negative base to a fractional power
        return math.nan
    return _from_python_number(power, decimal)


def _rounding(name: str, mode: str) -> None:
    @operator(name, (1, 2))
    def op(value: Any, place: Any = 0) -> Any:
        if nullish(value) or nullish(place):
            return None
        if not is_number(value):
            raise failure(51081, f"{name} only supports numeric types, not {type_name(value)}")
        if not is_number(place) or int(to_python_number(place)) != to_python_number(place):
            raise failure(51082, f"precision argument to {name} must be a integral value")
        digits = int(to_python_number(place))
        if not -20 <= digits <= 100:
            raise failure(51083, f"cannot apply {name} with precision value {digits}")
        x = to_python_number(value)
        if isinstance(x, float) and not math.isfinite(x):
            return x
        exact = Decimal(repr(x)) if isinstance(x, float) else Decimal(x)
        with localcontext() as context:
            context.prec = 400  # room for any double at any allowed precision
            rounded = exact.quantize(Decimal(1).scaleb(-digits), rounding=mode)
        if isinstance(value, Decimal128):
            return Decimal128(rounded)
        if isinstance(x, float):
            return float(rounded)
        return type(value)(int(rounded)) if isinstance(value, Int64) else int(rounded)


_rounding("$round", ROUND_HALF_EVEN)
_rounding("$trunc", ROUND_DOWN)


def sum_numbers(values: list[Any]) -> Any:
    """MongoDB's $sum: numbers only (others ignored), 0 when there are none."""
    numbers = [v for v in values if is_number(v)]
    if any(isinstance(v, Decimal128) for v in numbers):
        exact = sum((Decimal(str(to_python_number(v))) for v in numbers), Decimal(0))
        return Decimal128(exact)
    if any(isinstance(v, float) for v in numbers):
        return math.fsum(float(v) for v in numbers)
    total = sum(int(v) for v in numbers)
    if any(isinstance(v, Int64) for v in numbers) or not -INT32 <= total < INT32:
        return Int64(total) if -INT64 <= total < INT64 else float(total)
    return total


def average(values: list[Any]) -> Any:
    """MongoDB's $avg: the mean of the numbers, null when there are none."""
    numbers = [v for v in values if is_number(v)]
    if not numbers:
        return None
    total = sum_numbers(numbers)
    if isinstance(total, Decimal128):
        return Decimal128(total.to_decimal() / len(numbers))
    return float(total) / len(numbers)


def extreme(values: list[Any], sign: int) -> Any:
    """MongoDB's $min (`sign` -1) or $max (1): null and missing ignored, null when none."""
    best: Any = MISSING
    for v in values:
        if nullish(v):
            continue
        if best is MISSING or compare_values(v, best) * sign > 0:
            best = v
    return None if best is MISSING else best


def std_dev(values: list[Any], sample: bool) -> Any:
    """MongoDB's $stdDevPop / $stdDevSamp over the numbers; null when undefined."""
    numbers = [float(to_python_number(v)) for v in values if is_number(v)]
    count = len(numbers) - (1 if sample else 0)
    if count <= 0:
        return None
    mean = math.fsum(numbers) / len(numbers)
    return math.sqrt(math.fsum((x - mean) ** 2 for x in numbers) / count)


def _accumulating(name: str, fn: Callable[[list[Any]], Any]) -> None:
    @operator(name)
    def op(*values: Any) -> Any:
        if len(values) == 1 and isinstance(values[0], list):
            return fn(values[0])
        return fn(list(values))


_accumulating("$sum", sum_numbers)
_accumulating("$avg", average)
_accumulating("$min", lambda values: extreme(values, -1))
_accumulating("$max", lambda values: extreme(values, 1))
_accumulating("$stdDevPop", lambda values: std_dev(values, sample=False))
_accumulating("$stdDevSamp", lambda values: std_dev(values, sample=True))
