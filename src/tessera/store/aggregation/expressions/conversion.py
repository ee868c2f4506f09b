"""Type operators: `$type`, `$isNumber`, `$convert` and the `$to*` shortcuts."""

import datetime
import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.timestamp import Timestamp

from tessera.store.aggregation.expressions.core import (
    INT32,
    INT64,
    Scope,
    failure,
    is_number,
    named_args,
    nullish,
    operator,
    special,
    to_python_number,
    truthy,
    type_name,
)
from tessera.store.aggregation.expressions.dates import (
    ConversionError,
    as_utc,
    date_of,
    format_date,
    from_millis,
    naive,
    parse_date,
    to_millis,
)

_TYPE_CODES = {
    1: "double",
    2: "string",
    7: "objectId",
    8: "bool",
    9: "date",
    16: "int",
    18: "long",
    19: "decimal",
}
_INTEGER_STRING = re.compile(r"[+-]?[0-9]+")
_FLOAT_STRING = re.compile(
    r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(Infinity|inf|NaN)"
)


@operator("$type", 1)
def _type(value: Any) -> str:
    return type_name(value)


@operator("$isNumber", 1)
def _is_number(value: Any) -> bool:
    return is_number(value)


def to_string(value: Any) -> str:
    """The string MongoDB's $toString gives for a scalar value."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return {"inf": "Infinity", "-inf": "-Infinity", "nan": "NaN"}.get(repr(value), repr(value))
    if isinstance(value, (int, Decimal128, ObjectId)):
        return str(value)
    if isinstance(value, datetime.datetime):
        return format_date(as_utc(value), "%Y-%m-%dT%H:%M:%S.%LZ")
    if isinstance(value, Timestamp):
        return f"Timestamp({value.time}, {value.inc})"
    raise ConversionError(f"Unsupported conversion from {type_name(value)} to string")


def _to_int(value: Any, low: int, high: int, target: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        if not _INTEGER_STRING.fullmatch(value):
            raise ConversionError(
                f"Failed to parse number '{value}' in $convert with no onError value"
            )
        number: Any = int(value)
    elif is_number(value):
        number = to_python_number(value)
        if isinstance(number, (float, Decimal)) and not math.isfinite(number):
            raise ConversionError(f"Attempt to convert {number} value to {target}")
        number = int(number)
    elif isinstance(value, datetime.datetime) and target == "long":
        number = to_millis(value)
    else:
        raise ConversionError(f"Unsupported conversion from {type_name(value)} to {target}")
    if not low <= number < high:
        raise ConversionError(f"Conversion would overflow target type in $convert: {value}")
    return number


def _to_double(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if is_number(value):
        return float(to_python_number(value))
    if isinstance(value, str):
        if not _FLOAT_STRING.fullmatch(value):
            raise ConversionError(
                f"Failed to parse number '{value}' in $convert with no onError value"
            )
        return float(value)
    if isinstance(value, datetime.datetime):
        return float(to_millis(value))
    raise ConversionError(f"Unsupported conversion from {type_name(value)} to double")


def _to_decimal(value: Any) -> Decimal128:
    if isinstance(value, Decimal128):
        return value
    if isinstance(value, datetime.datetime):
        return Decimal128(Decimal(to_millis(value)))
    if isinstance(value, float):
        return Decimal128(Decimal(repr(value)))
    if isinstance(value, int):
        return Decimal128(Decimal(int(value)))
    if isinstance(value, str) and _FLOAT_STRING.fullmatch(value):
        return Decimal128(Decimal(value))
    raise ConversionError(f"Unsupported conversion from {type_name(value)} to decimal: {value!r}")


def _to_bool(value: Any) -> bool:
    if is_number(value):
        return truthy(value)
    return value is not False


def _to_object_id(value: Any) -> ObjectId:
    if isinstance(value, ObjectId):
        return value
    if isinstance(value, str) and ObjectId.is_valid(value) and len(value) == 24:
        return ObjectId(value)
    raise ConversionError(f"Failed to parse objectId '{value}' in $convert with no onError value")


def _to_date(value: Any) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return naive(as_utc(value))
    if isinstance(value, (ObjectId, Timestamp)):
        return naive(as_utc(date_of(value)))
    if isinstance(value, str):
        return parse_date(value)
    if is_number(value) and type_name(value) != "int":
        number = to_python_number(value)
        if isinstance(number, (float, Decimal)) and not math.isfinite(number):
            raise ConversionError("Unsupported conversion from non-finite number to date")
        return from_millis(int(number))
    raise ConversionError(f"Unsupported conversion from {type_name(value)} to date")


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "double": _to_double,
    "string": to_string,
    "objectId": _to_object_id,
    "bool": _to_bool,
    "date": _to_date,
    "int": lambda v: _to_int(v, -INT32, INT32, "int"),
    "long": lambda v: Int64(_to_int(v, -INT64, INT64, "long")),
    "decimal": _to_decimal,
}


def convert(value: Any, target: str) -> Any:
    """`value` converted to the BSON type named `target`; null stays null."""
    if nullish(value):
        return None
    try:
        return _CONVERTERS[target](value)
    except ConversionError as error:
        raise failure(241, str(error)) from None


def _converter(name: str, target: str) -> None:
    @operator(name, 1)
    def op(value: Any) -> Any:
        return convert(value, target)


for _name, _target in (
    ("$toString", "string"),
    ("$toInt", "int"),
    ("$toLong", "long"),
    ("$toDouble", "double"),
    ("$toDecimal", "decimal"),
    ("$toBool", "bool"),
    ("$toObjectId", "objectId"),
    ("$toDate", "date"),
):
    _converter(_name, _target)


@special("$convert")
def _convert(raw: Any, scope: Scope) -> Any:
    spec = named_args("$convert", raw, ("input", "to"), ("onError", "onNull"))
    target = scope.eval(spec["to"])
    if isinstance(target, Mapping):
        target = target.get("type")
    if is_number(target):
        target = _TYPE_CODES.get(int(to_python_number(target)), str(target))
    if target not in _CONVERTERS:
        raise failure(2, f"Unknown type name: {target}")
    value = scope.eval(spec["input"])
    if nullish(value):
        return scope.eval(spec["onNull"]) if "onNull" in spec else None
    try:
        return _CONVERTERS[target](value)
    except ConversionError as error:
        if "onError" in spec:
            return scope.eval(spec["onError"])
        raise failure(241, str(error)) from None
