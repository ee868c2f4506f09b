"""The `granularity` of `$bucketAuto`: rounding bucket boundaries to preferred numbers.

The series are the Renard (R5-R80), 1-2-5 and E (E6-E192) preferred numbers, scaled by
powers of ten, and the powers of two. Rounding up gives the smallest number of the series
strictly above the value, rounding down the largest strictly below; zero stays zero. The
arithmetic follows MongoDB's (doubles scaled by 10.0, Decimal128 kept decimal), so the
boundaries are the same numbers.
"""

import bisect
import math
from collections.abc import Callable, Sequence
from decimal import Context, Decimal
from typing import Any

from bson.decimal128 import Decimal128

from tessera.store.aggregation.expressions import failure, is_number, type_name

_SERIES: dict[str, tuple[int, ...]] = {
    "R5": (10, 16, 25, 40, 63),
    "R10": (100, 125, 160, 200, 250, 315, 400, 500, 630, 800),
    "R20": (100, 112, 125, 140, 160, 180, 200, 224, 250, 280,
            315, 355, 400, 450, 500, 560, 630, 710, 800, 900),
    "R40": (100, 106, 112, 118, 125, 132, 140, 150, 160, 170, 180, 190, 200,
            212, 224, 236, 250, 265, 280, 300, 315, 355, 375, 400, 425, 450,
            475, 500, 530, 560, 600, 630, 670, 710, 750, 800, 850, 900, 950),
    "R80": (103, 109, 115, 122, 128, 136, 145, 155, 165, 175, 185, 195, 206, 218,
            230, 243, 258, 272, 290, 307, 325, 345, 365, 387, 412, 437, 462, 487,
            515, 545, 575, 615, 650, 690, 730, 775, 825, 875, 925, 975),
    "1-2-5": (10, 20, 50),
    "E6": (10, 15, 22, 33, 47, 68),
    "E12": (10, 12, 15, 18, 22, 27, 33, 39, 47, 56, 68, 82),
    "E24": (10, 11, 12, 13, 15, 16, 18, 20, 22, 24, 27, 30,
            33, 36, 39, 43, 47, 51, 56, 62, 68, 75, 82, 91),
    "E48": (100, 105, 110, 115, 121, 127, 133, 140, 147, 154, 162, 169,
            178, 187, 196, 205, 215, 226, 237, 249, 261, 274, 287, 301,
            316, 332, 348, 365, 383, 402, 422, 442, 464, 487, 511, 536,
            562, 590, 619, 649, 681, 715, 750, 787, 825, 866, 909, 953),
    "E96": (100, 102, 105, 107, 110, 113, 115, 118, 121, 124, 127, 130, 133, 137,
            140, 143, 147, 150, 154, 158, 162, 165, 169, 174, 178, 182, 187, 191,
            196, 200, 205, 210, 215, 221, 226, 232, 237, 243, 249, 255, 261, 267,
            274, 280, 287, 294, 301, 309, 316, 324, 332, 340, 348, 357, 365, 374,
            383, 392, 402, 412, 422, 432, 442, 453, 464, 475, 487, 499, 511, 523,
            536, 549, 562, 576, 590, 604, 619, 634, 649, 665, 681, 698, 715, 732,
            750, 768, 787, 806, 825, 845, 866, 887, 909, 931, 953, 976),
    "E192": (100, 101, 102, 104, 105, 106, 107, 109, 110, 111, 113, 114, 115, 117, 118,
             120, 121, 123, 124, 126, 127, 129, 130, 132, 133, 135, 137, 138, 140, 142,
             143, 145, 147, 149, 150, 152, 154, 156, 158, 160, 162, 164, 165, 167, 169,
             172, 174, 176, 178, 180, 182, 184, 187, 189, 191, 193, 196, 198, 200, 203,
             205, 208, 210, 213, 215, 218, 221, 223, 226, 229, 232, 234, 237, 240, 243,
             246, 249, 252, 255, 258, 261, 264, 267, 271, 274, 277, 280, 284, 287, 291,
             294, 298, 301, 305, 309, 312, 316, 320, 324, 328, 332, 336, 340, 344, 348,
             352, 357, 361, 365, 370, 374, 379, 383, 388, 392, 397, 402, 407, 412, 417,
             422, 427, 432, 437, 442, 448, 453, 459, 464, 470, 475, 481, 487, 493, 499,
             505, 511, 517, 523, 530, 536, 542, 549, 556, 562, 569, 576, 583, 590, 597,
             604, 612, 619, 626, 634, 642, 649, 657, 665, 673, 681, 690, 698, 706, 715,
             723, 732, 741, 750, 759, 768, 777, 787, 796, 806, 816, 825, 835, 845, 856,
             866, 876, 887, 898, 909, 920, 931, 942, 953, 965, 976, 988),
}  # fmt: skip
_DECIMAL = Context(prec=34)  # Decimal128's precision
POWERS_OF_TWO = "POWERSOF2"
GRANULARITIES = (*_SERIES, POWERS_OF_TWO)
Round = Callable[[Any], Any]


def rounders(name: Any) -> tuple[Round, Round]:
    """Round up and round down for the granularity `name` (code 40261, 40257 if unknown)."""
    if not isinstance(name, str):
        raise failure(
            40261,
            f"The $bucketAuto 'granularity' field must be a string, but found type: "
            f"{type_name(name)}",
        )
    if name == POWERS_OF_TWO:
        return _power_up, _power_down
    if name not in _SERIES:
        raise failure(40257, f"Unknown rounding granularity '{name}'")
    series = _SERIES[name]
    return (lambda value: _series_round(series, value, up=True)), (
        lambda value: _series_round(series, value, up=False)
    )


def _check(value: Any, codes: tuple[int, int, int]) -> float:
    not_number, nan, negative = codes
    if not is_number(value):
        raise failure(
            not_number,
            f"A granularity rounder can only round numeric values, but found type: "
            f"{type_name(value)}",
        )
    number = float(value.to_decimal()) if isinstance(value, Decimal128) else float(value)
    if math.isnan(number):
        raise failure(nan, "A granularity rounder cannot round NaN")
    if number < 0:
        raise failure(negative, "A granularity rounder can only round non-negative numbers")
    return number


def _series_round(series: Sequence[int], value: Any, up: bool) -> Any:
    if _check(value, (40262, 40263, 40268)) == 0:
        return value
    if isinstance(value, Decimal128):
        scaled = _scale([Decimal(n) for n in series], value.to_decimal(), Decimal(10), up)
        return Decimal128(_DECIMAL.create_decimal(scaled))
    return _scale([float(n) for n in series], float(value), 10.0, up)


def _scale(series: list[Any], number: Any, ten: Any, up: bool) -> Any:
    """The series number strictly above (`up`) or below `number`, the series scaled by
    powers of `ten` until it spans `number`."""
    multiplier = ten / ten
    if up:
        while number >= series[-1] * multiplier:
            multiplier *= ten
        while number < series[0] * multiplier:
            previous = series[0] * multiplier
            multiplier /= ten
            if number >= series[-1] * multiplier:
                return previous  # between one decade's last and the next one's first
        scaled = [n * multiplier for n in series]
        return scaled[bisect.bisect_right(scaled, number)]
    while number <= series[0] * multiplier:
        multiplier /= ten
    while number > series[-1] * multiplier:
        previous = series[-1] * multiplier
        multiplier *= ten
        if number <= series[0] * multiplier:
            return previous
    scaled = [n * multiplier for n in series]
    return scaled[bisect.bisect_left(scaled, number) - 1]


def _power_up(value: Any) -> Any:
    number = _check(value, (40265, 40266, 40267))
    if number == 0:
        return value
    if isinstance(value, float):
        return _power(math.floor(math.log2(value)) + 1, value)
    if isinstance(value, Decimal128):
        return _power(math.floor(float(_log2(value))) + 1, value)
    return 2 ** int(value).bit_length()


def _power_down(value: Any) -> Any:
    number = _check(value, (40265, 40266, 40267))
    if number == 0:
        return value
    if isinstance(value, float):
        return _power(math.ceil(math.log2(value)) - 1, value)
    if isinstance(value, Decimal128):
        return _power(math.ceil(float(_log2(value))) - 1, value)
    integer = int(value)
    power_of_two = integer & (integer - 1) == 0
    return 2 ** (integer.bit_length() - (2 if power_of_two else 1))


def _log2(value: Decimal128) -> Decimal:
    number = value.to_decimal()
    return _DECIMAL.divide(number.ln(_DECIMAL), Decimal(2).ln(_DECIMAL))


def _power(exponent: int, value: Any) -> Any:
    """2 to `exponent` as MongoDB's ``$pow`` gives it: decimal for a decimal value, else
    an integer (a double for a negative exponent)."""
    if isinstance(value, Decimal128):
        return Decimal128(_DECIMAL.power(Decimal(2), exponent))
    return 2**exponent if exponent >= 0 else 2.0**exponent
