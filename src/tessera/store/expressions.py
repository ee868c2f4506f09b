"""MongoDB aggregation expressions, evaluated against plain Python documents.

`evaluate` turns an expression (field path, variable, literal, operator object or
expression object) into a value. A missing field evaluates to `MISSING`, which callers
such as ``$project`` use to leave the field out. Operator errors raise PyMongo's
`OperationFailure` with MongoDB's error code.
"""

import datetime
import math
import random
import re
from calendar import monthrange
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import bson
from bson.binary import Binary
from bson.code import Code
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp
from pymongo.errors import OperationFailure

from tessera.store.ordering import compare as bson_compare
from tessera.store.ordering import hash_key, sort_value
from tessera.store.paths import MISSING, split_path

_INT32 = 2**31
_INT64 = 2**63
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def failure(code: int, message: str) -> OperationFailure:
    """An `OperationFailure` shaped like the server's reply for error `code`."""
    return OperationFailure(message, code, {"ok": 0.0, "errmsg": message, "code": code})


class Scope:
    """The variables visible to an expression; ``CURRENT`` is where field paths start."""

    __slots__ = ("variables",)

    def __init__(self, variables: dict[str, Any]) -> None:
        self.variables = variables

    def bind(self, **names: Any) -> "Scope":
        """A child scope with `names` added (as `$let`, `$map` and `$filter` bind)."""
        return Scope({**self.variables, **names})

    def eval(self, expr: Any) -> Any:
        """The value of `expr` in this scope."""
        kind = type(expr)
        if kind is str:
            if expr.startswith("$"):
                return self._path(expr)
            return expr
        if kind is list:
            return [_or_null(self.eval(e)) for e in expr]
        if kind is dict or isinstance(expr, Mapping):
            return self._object(expr)
        return expr

    def _path(self, expr: str) -> Any:
        if expr.startswith("$$"):
            name, _, rest = expr[2:].partition(".")
            value = self._variable(name)
        else:
            value, rest = self.variables["CURRENT"], expr[1:]
            if not rest:
                raise failure(16872, "'$' by itself is not a valid FieldPath")
        return field_path(value, split_path(rest)) if rest else value

    def _variable(self, name: str) -> Any:
        if name in self.variables:
            return self.variables[name]
        if name == "REMOVE":
            return MISSING
        if name == "NOW":
            return _now()
        raise failure(17276, f"Use of undefined variable: {name}")

    def _object(self, expr: Mapping[str, Any]) -> Any:
        keys = list(expr)
        if keys and keys[0].startswith("$"):
            if len(keys) > 1:
                raise failure(
                    15983,
                    "an expression specification must contain exactly one field, the name "
                    f"of the expression. Found {len(keys)} fields in {dict(expr)!r}",
                )
            handler = _OPERATORS.get(keys[0])
            if handler is None:
                if keys[0] in _UNSUPPORTED:
                    raise failure(168, f"{keys[0]} is not supported by the embedded store")
                raise failure(168, f"Unrecognized expression '{keys[0]}'")
            return handler(expr[keys[0]], self)
        out: dict[str, Any] = {}
        for key in keys:
            check_field_name(key)
            value = self.eval(expr[key])
            if value is not MISSING:
                out[key] = value
        return out


def evaluate(expr: Any, doc: Mapping[str, Any], variables: Mapping[str, Any] | None = None) -> Any:
    """The value of aggregation expression `expr` for `doc`; MISSING for an absent field.

    `variables` holds user variables by name without the ``$$`` (as ``let`` binds them).
    """
    if variables:
        return Scope({**variables, "ROOT": doc, "CURRENT": doc}).eval(expr)
    return Scope({"ROOT": doc, "CURRENT": doc}).eval(expr)


Evaluator = Callable[[Mapping[str, Any], Mapping[str, Any] | None], Any]


def compile_expression(expr: Any) -> Evaluator:
    """A function ``(doc, variables) -> value`` equal to `evaluate` for `expr`.

    Field paths and constants, the most common group keys and accumulator arguments, skip
    the interpreter; a stage compiles its expressions once and runs them per document.
    """
    if type(expr) is str and expr.startswith("$") and not expr.startswith("$$") and expr != "$":
        parts = split_path(expr[1:])
        if len(parts) == 1:
            name = parts[0]
            return lambda doc, variables: doc.get(name, MISSING)
        return lambda doc, variables: field_path(doc, parts)
    if not isinstance(expr, (str, list, Mapping)):
        return lambda doc, variables: expr
    return lambda doc, variables: evaluate(expr, doc, variables)


def truthy(value: Any) -> bool:
    """MongoDB's truthiness: false, null, missing and numeric zero are false."""
    if value is None or value is MISSING or value is False:
        return False
    if is_number(value):
        return _to_python_number(value) != 0
    return True


def check_field_name(name: str) -> None:
    """Refuse an output field name MongoDB refuses (``$``-prefixed or dotted)."""
    if name.startswith("$"):
        raise failure(16410, f"FieldPath field names may not start with '$'. Given: {name!r}")
    if "." in name:
        raise failure(16412, f"FieldPath field names may not contain '.'. Given: {name!r}")
    if not name:
        raise failure(15998, "FieldPath field names may not be empty strings.")


def field_path(value: Any, parts: Sequence[str]) -> Any:
    """Follow `parts` through documents; arrays give arrays of what their documents hold."""
    for i, part in enumerate(parts):
        if isinstance(value, Mapping):
            value = value.get(part, MISSING)
        elif isinstance(value, list):
            return _path_in_array(value, parts[i:])
        else:
            return MISSING
    return value


def _path_in_array(array: list[Any], parts: Sequence[str]) -> list[Any]:
    out = []
    for element in array:
        if isinstance(element, list):
            out.append(_path_in_array(element, parts))
        elif isinstance(element, Mapping):
            found = field_path(element, parts)
            if found is not MISSING:
                out.append(found)
    return out


def _or_null(value: Any) -> Any:
    return None if value is MISSING else value


def _nullish(value: Any) -> bool:
    return value is None or value is MISSING


def _now() -> datetime.datetime:
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


# --- registry -------------------------------------------------------------------------

# MongoDB operators this evaluator knowingly lacks: server-side JavaScript, text search
# metadata and a few rarities. Naming them gives a clearer error than "unrecognized".
_UNSUPPORTED = frozenset(
    {
        "$function",
        "$accumulator",
        "$meta",
        "$dateTrunc",
        "$toHashedIndexKey",
        "$tsIncrement",
        "$tsSecond",
    }
)

_Handler = Callable[[Any, Scope], Any]
_OPERATORS: dict[str, _Handler] = {}


def _arity_error(name: str, arity: int | tuple[int, int], given: int) -> OperationFailure:
    if isinstance(arity, int):
        return failure(
            16020, f"Expression {name} takes exactly {arity} arguments. {given} were passed in."
        )
    low, high = arity
    return failure(
        28667,
        f"Expression {name} takes at least {low} arguments, and at most {high}, "
        f"but {given} were passed in.",
    )


def _operator(
    name: str, arity: int | tuple[int, int] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register an operator whose arguments are evaluated before it runs."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        def handler(raw: Any, scope: Scope) -> Any:
            args = raw if isinstance(raw, list) else [raw]
            if arity is not None:
                low, high = (arity, arity) if isinstance(arity, int) else arity
                if not low <= len(args) <= high:
                    raise _arity_error(name, arity, len(args))
            return fn(*[scope.eval(a) for a in args])

        _OPERATORS[name] = handler
        return fn

    return register


def _special(name: str) -> Callable[[_Handler], _Handler]:
    """Register an operator that reads its raw argument (lazy or object-shaped)."""

    def register(fn: _Handler) -> _Handler:
        _OPERATORS[name] = fn
        return fn

    return register


def _named_args(
    name: str, raw: Any, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise failure(
            16000 if name != "$switch" else 40060, f"{name} requires an object as an argument"
        )
    for key in raw:
        if key not in required and key not in optional:
            raise failure(16000, f"Unrecognized parameter to {name}: {key}")
    for key in required:
        if key not in raw:
            raise failure(16000, f"Missing '{key}' parameter to {name}")
    return dict(raw)


def type_name(value: Any) -> str:
    """The BSON type alias MongoDB's ``$type`` reports for `value`."""
    if value is MISSING:
        return "missing"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Int64):
        return "long"
    if isinstance(value, int):
        return "int" if -_INT32 <= value < _INT32 else "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, (Decimal128, Decimal)):
        return "decimal"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, (bytes, Binary)):
        return "binData"
    if isinstance(value, ObjectId):
        return "objectId"
    if isinstance(value, datetime.datetime):
        return "date"
    if isinstance(value, (Regex, re.Pattern)):
        return "regex"
    if isinstance(value, Timestamp):
        return "timestamp"
    if isinstance(value, Code):
        return "javascript" if value.scope is None else "javascriptWithScope"
    if isinstance(value, MinKey):
        return "minKey"
    if isinstance(value, MaxKey):
        return "maxKey"
    return type(value).__name__


# --- numbers --------------------------------------------------------------------------


def is_number(value: Any) -> bool:
    """True for BSON numbers (int, long, double, decimal); booleans are not numbers."""
    return isinstance(value, (int, float, Decimal128)) and not isinstance(value, bool)


def _to_python_number(value: Any) -> int | float | Decimal:
    if isinstance(value, Decimal128):
        return value.to_decimal()
    return value if isinstance(value, float) else int(value)


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
    if any(_nullish(v) for v in values):
        return None
    for v in values:
        if not is_number(v):
            raise failure(
                16554 if name == "$add" else 16555 if name == "$multiply" else 28765,
                f"{name} only supports numeric types, not {type_name(v)}",
            )
    decimal = any(isinstance(v, Decimal128) for v in values)
    nums = [_to_python_number(v) for v in values]
    if decimal:
        nums = [Decimal(str(n)) if isinstance(n, float) else Decimal(n) for n in nums]
    return nums, decimal


@_operator("$add")
def _add(*values: Any) -> Any:
    if any(_nullish(v) for v in values):
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


@_operator("$subtract", 2)
def _subtract(a: Any, b: Any) -> Any:
    if _nullish(a) or _nullish(b):
        return None
    if isinstance(a, datetime.datetime):
        if isinstance(b, datetime.datetime):
            return Int64(_millis(a) - _millis(b))
        if is_number(b):
            return _shift_date(a, -_to_python_number(b))
    elif is_number(a) and is_number(b):
        parsed = _numbers("$subtract", (a, b))
        assert parsed is not None
        (x, y), decimal = parsed
        return _from_python_number(x - y, decimal)
    raise failure(16556, f"cant $subtract a {type_name(b)} from a {type_name(a)}")


@_operator("$multiply")
def _multiply(*values: Any) -> Any:
    parsed = _numbers("$multiply", values)
    if parsed is None:
        return None
    nums, decimal = parsed
    product: Any = Decimal(1) if decimal else 1
    for n in nums:
        product *= n
    return _from_python_number(product, decimal)


@_operator("$divide", 2)
def _divide(a: Any, b: Any) -> Any:
    parsed = _numbers("$divide", (a, b))
    if parsed is None:
        return None
    (x, y), decimal = parsed
    if y == 0:
        raise failure(2, "can't $divide by zero")
    return _from_python_number(Decimal(x) / Decimal(y) if decimal else x / y, decimal)


@_operator("$mod", 2)
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
    @_operator(name, 1)
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


@_operator("$atan2", 2)
def _atan2(y: Any, x: Any) -> Any:
    parsed = _numbers("$atan2", (y, x))
    if parsed is None:
        return None
    (a, b), _ = parsed
    return math.atan2(float(a), float(b))


@_operator("$sqrt", 1)
def _sqrt(value: Any) -> Any:
    parsed = _numbers("$sqrt", (value,))
    if parsed is None:
        return None
    (x,), _ = parsed
    if x < 0:
        raise failure(28714, "$sqrt's argument must be greater than or equal to 0")
    return math.sqrt(x)


@_operator("$ln", 1)
def _ln(value: Any) -> Any:
    return _log("$ln", value, math.e, 28766)


@_operator("$log10", 1)
def _log10(value: Any) -> Any:
    return _log("$log10", value, 10, 28761)


@_operator("$log", 2)
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


@_operator("$pow", 2)
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
        return result if -_INT64 <= result < _INT64 else float(result)
    try:
        power = x**y
    except OverflowError:
        return math.inf
    if isinstance(power, complex):  # a negative base to a fractional power
        return math.nan
    return _from_python_number(power, decimal)


def _rounding(name: str, mode: str) -> None:
    @_operator(name, (1, 2))
    def op(value: Any, place: Any = 0) -> Any:
        if _nullish(value) or _nullish(place):
            return None
        if not is_number(value):
            raise failure(51081, f"{name} only supports numeric types, not {type_name(value)}")
        if not is_number(place) or int(_to_python_number(place)) != _to_python_number(place):
            raise failure(51082, f"precision argument to {name} must be a integral value")
        digits = int(_to_python_number(place))
        if not -20 <= digits <= 100:
            raise failure(51083, f"cannot apply {name} with precision value {digits}")
        x = _to_python_number(value)
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


# --- comparison and logic ---------------------------------------------------------------


def compare_values(a: Any, b: Any) -> int:
    """Aggregation comparison: BSON order, with a missing value below null."""
    if a is MISSING or b is MISSING:
        if a is b:
            return 0
        other = b if a is MISSING else a
        sign = -1 if a is MISSING else 1
        return 0 if other is MISSING else (sign if not isinstance(other, MinKey) else -sign)
    return bson_compare(a, b)


def _comparison(name: str, test: Callable[[int], bool | int]) -> None:
    @_operator(name, 2)
    def op(a: Any, b: Any) -> Any:
        return test(compare_values(a, b))


_comparison("$eq", lambda c: c == 0)
_comparison("$ne", lambda c: c != 0)
_comparison("$gt", lambda c: c > 0)
_comparison("$gte", lambda c: c >= 0)
_comparison("$lt", lambda c: c < 0)
_comparison("$lte", lambda c: c <= 0)
_comparison("$cmp", lambda c: c)


def _args(raw: Any) -> list[Any]:
    return raw if isinstance(raw, list) else [raw]


@_special("$and")
def _and(raw: Any, scope: Scope) -> bool:
    return all(truthy(scope.eval(e)) for e in _args(raw))


@_special("$or")
def _or(raw: Any, scope: Scope) -> bool:
    return any(truthy(scope.eval(e)) for e in _args(raw))


@_operator("$not", 1)
def _not(value: Any) -> bool:
    return not truthy(value)


@_special("$cond")
def _cond(raw: Any, scope: Scope) -> Any:
    if isinstance(raw, list):
        if len(raw) != 3:
            raise _arity_error("$cond", 3, len(raw))
        condition, then, otherwise = raw
    else:
        if not isinstance(raw, Mapping):
            raise _arity_error("$cond", 3, 1)
        for key in raw:
            if key not in ("if", "then", "else"):
                raise failure(17083, f"Unrecognized parameter to $cond: {key}")
        for key, code in (("if", 17080), ("then", 17081), ("else", 17082)):
            if key not in raw:
                raise failure(code, f"Missing '{key}' parameter to $cond")
        condition, then, otherwise = raw["if"], raw["then"], raw["else"]
    return scope.eval(then if truthy(scope.eval(condition)) else otherwise)


@_special("$ifNull")
def _if_null(raw: Any, scope: Scope) -> Any:
    args = _args(raw)
    if len(args) < 2:
        raise failure(1, "$ifNull needs at least two arguments")
    for expr in args[:-1]:
        value = scope.eval(expr)
        if not _nullish(value):
            return value
    return scope.eval(args[-1])


@_special("$switch")
def _switch(raw: Any, scope: Scope) -> Any:
    spec = _named_args("$switch", raw, ("branches",), ("default",))
    branches = spec["branches"]
    if not isinstance(branches, list):
        raise failure(40061, "$switch expected an array for 'branches'")
    for branch in branches:
        if not isinstance(branch, Mapping) or "case" not in branch or "then" not in branch:
            raise failure(40064, "$switch requires each branch to have a 'case' and a 'then'")
        if truthy(scope.eval(branch["case"])):
            return scope.eval(branch["then"])
    if "default" not in spec:
        raise failure(
            40066,
            "$switch could not find a matching branch for an input, and no default was specified.",
        )
    return scope.eval(spec["default"])


@_special("$literal")
def _literal(raw: Any, scope: Scope) -> Any:
    return raw


@_special("$let")
def _let(raw: Any, scope: Scope) -> Any:
    spec = _named_args("$let", raw, ("vars", "in"))
    if not isinstance(spec["vars"], Mapping):
        raise failure(10065, "invalid parameter: expected an object (vars)")
    names = {name: scope.eval(expr) for name, expr in spec["vars"].items()}
    for name in names:
        _check_variable_name(name)
    return scope.bind(**names).eval(spec["in"])


def _check_variable_name(name: str) -> None:
    if not name or not (name[0].islower() or not name[0].isascii()):
        raise failure(16867, f"'{name}' starts with an invalid character for a user variable name")


# --- strings ----------------------------------------------------------------------------

# MongoDB's default $trim set: the null byte, ASCII whitespace and Unicode spaces.
_WHITESPACE = (
    "\0\t\n\x0b\x0c\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def _coerce_string(value: Any) -> str:
    """The string form MongoDB's string operators accept: null is empty, numbers print."""
    if _nullish(value):
        return ""
    if isinstance(value, str):
        return value
    if is_number(value) or isinstance(value, (datetime.datetime, Timestamp)):
        return to_string(value)
    raise failure(16007, f"can't convert from BSON type {type_name(value)} to String")


@_operator("$concat")
def _concat(*values: Any) -> Any:
    if any(_nullish(v) for v in values):
        return None
    for v in values:
        if not isinstance(v, str):
            raise failure(16702, f"$concat only supports strings, not {type_name(v)}")
    return "".join(values)


@_operator("$toLower", 1)
def _to_lower(value: Any) -> str:
    return _coerce_string(value).lower()


@_operator("$toUpper", 1)
def _to_upper(value: Any) -> str:
    return _coerce_string(value).upper()


@_operator("$strcasecmp", 2)
def _strcasecmp(a: Any, b: Any) -> int:
    x = _coerce_string(a).upper()
    y = _coerce_string(b).upper()
    return (x > y) - (x < y)


def _integer_arg(name: str, what: str, value: Any, code: int) -> int:
    if not is_number(value):
        raise failure(
            code, f"{name}: {what} must be a numeric type (is BSON type {type_name(value)})"
        )
    number = _to_python_number(value)
    if not isinstance(number, int) and (not math.isfinite(number) or number != int(number)):
        raise failure(code + 1, f"{name}: {what} must be an integral value, found {number}")
    return int(number)


def _substr_bytes(name: str, value: Any, start: Any, length: Any) -> str:
    data = _coerce_string(value).encode()
    begin = _integer_arg(name, "starting index", start, 16034)
    count = _integer_arg(name, "length", length, 16035)
    if begin < 0:
        raise failure(50752, f"{name}: starting index must be non-negative, found {begin}")
    if begin >= len(data):
        return ""
    end = len(data) if count < 0 else min(len(data), begin + count)
    if begin < len(data) and data[begin] & 0xC0 == 0x80:
        raise failure(28656, f"{name}: Invalid range, starting index is a UTF-8 continuation byte.")
    if end < len(data) and data[end] & 0xC0 == 0x80:
        raise failure(
            28657, f"{name}: Invalid range, ending index is in the middle of a UTF-8 character."
        )
    return data[begin:end].decode()


@_operator("$substrBytes", 3)
def _substr_bytes_op(value: Any, start: Any, length: Any) -> str:
    return _substr_bytes("$substrBytes", value, start, length)


@_operator("$substr", 3)
def _substr(value: Any, start: Any, length: Any) -> str:
    return _substr_bytes("$substr", value, start, length)


@_operator("$substrCP", 3)
def _substr_cp(value: Any, index: Any, count: Any) -> str:
    text = _coerce_string(value)
    begin = _integer_arg("$substrCP", "starting index", index, 34452)
    size = _integer_arg("$substrCP", "length", count, 34454)
    if begin < 0:
        raise failure(34455, f"$substrCP: starting index must be non-negative, found {begin}")
    if size < 0:
        raise failure(34456, f"$substrCP: length must be a nonnegative integer, found {size}")
    return text[begin : begin + size]


@_operator("$strLenCP", 1)
def _str_len_cp(value: Any) -> int:
    if not isinstance(value, str):
        raise failure(34471, f"$strLenCP requires a string argument, found: {type_name(value)}")
    return len(value)


@_operator("$strLenBytes", 1)
def _str_len_bytes(value: Any) -> int:
    if not isinstance(value, str):
        raise failure(34473, f"$strLenBytes requires a string argument, found: {type_name(value)}")
    return len(value.encode())


@_operator("$split", 2)
def _split(value: Any, delimiter: Any) -> Any:
    if _nullish(value) or _nullish(delimiter):
        return None
    if not isinstance(value, str):
        raise failure(
            40085,
            "$split requires an expression that evaluates to a string as a first argument, "
            f"found: {type_name(value)}",
        )
    if not isinstance(delimiter, str):
        raise failure(
            40086,
            "$split requires an expression that evaluates to a string as a second argument, "
            f"found: {type_name(delimiter)}",
        )
    if not delimiter:
        raise failure(40087, "$split requires a non-empty separator")
    return value.split(delimiter)


def _trimmer(name: str, strip: Callable[[str, str], str]) -> None:
    @_special(name)
    def op(raw: Any, scope: Scope) -> Any:
        spec = _named_args(name, raw, ("input",), ("chars",))
        value = scope.eval(spec["input"])
        chars = scope.eval(spec["chars"]) if "chars" in spec else _WHITESPACE
        if _nullish(value) or _nullish(chars):
            return None
        if not isinstance(value, str):
            raise failure(
                50699, f"{name} requires its input to be a string, got {type_name(value)}"
            )
        if not isinstance(chars, str):
            raise failure(50700, f"{name} requires 'chars' to be a string, got {type_name(chars)}")
        return strip(value, chars)


_trimmer("$trim", str.strip)
_trimmer("$ltrim", str.lstrip)
_trimmer("$rtrim", str.rstrip)


def _search_range(name: str, bounds: tuple[Any, ...], size: int) -> tuple[int, int]:
    """The [start, end) window of an $indexOf* search from its optional index arguments."""
    window = [0, size]
    for i, bound in enumerate(bounds):
        position = _integer_arg(name, "starting index" if i == 0 else "ending index", bound, 40096)
        if position < 0:
            raise failure(40097, f"{name} requires a nonnegative index, found: {position}")
        window[i] = position
    return window[0], window[1]


def _check_search_strings(name: str, haystack: Any, needle: Any) -> None:
    if not isinstance(haystack, str):
        message = f"{name} requires a string as the first argument, found: {type_name(haystack)}"
        raise failure(40091, message)
    if not isinstance(needle, str):
        message = f"{name} requires a string as the second argument, found: {type_name(needle)}"
        raise failure(40092, message)


@_operator("$indexOfCP", (2, 4))
def _index_of_cp(haystack: Any, needle: Any, *bounds: Any) -> Any:
    if _nullish(haystack):
        return None
    _check_search_strings("$indexOfCP", haystack, needle)
    start, end = _search_range("$indexOfCP", bounds, len(haystack))
    return haystack.find(needle, start, end) if start <= end else -1


@_operator("$indexOfBytes", (2, 4))
def _index_of_bytes(haystack: Any, needle: Any, *bounds: Any) -> Any:
    if _nullish(haystack):
        return None
    _check_search_strings("$indexOfBytes", haystack, needle)
    data = haystack.encode()
    start, end = _search_range("$indexOfBytes", bounds, len(data))
    return data.find(needle.encode(), start, end) if start <= end else -1


_REGEX_OPTION_FLAGS = {
    "i": re.IGNORECASE,
    "m": re.MULTILINE,
    "s": re.DOTALL,
    "x": re.VERBOSE,
    "u": 0,
}


def _regex_input(name: str, raw: Any, scope: Scope) -> tuple[str | None, re.Pattern[str]]:
    spec = _named_args(name, raw, ("input", "regex"), ("options",))
    value = scope.eval(spec["input"])
    regex = scope.eval(spec["regex"])
    options = scope.eval(spec.get("options", ""))
    if not _nullish(value) and not isinstance(value, str):
        raise failure(51104, f"{name} needs 'input' to be of type string")
    if isinstance(regex, (Regex, re.Pattern)):
        if options:
            raise failure(
                51075,
                f"{name}: regex options cannot be specified in both BSON regex and 'options' field",
            )
        pattern, flags = regex.pattern, regex.flags
    elif isinstance(regex, str):
        pattern, flags = regex, 0
    elif _nullish(regex):
        return None, re.compile("")
    else:
        raise failure(51105, f"{name} needs 'regex' to be of type string or regex")
    for letter in options or "":
        if letter not in _REGEX_OPTION_FLAGS:
            raise failure(51108, f"{name} invalid flag in regex options: {letter}")
        flags |= _REGEX_OPTION_FLAGS[letter]
    try:
        compiled = re.compile(pattern, flags & ~re.UNICODE if isinstance(pattern, bytes) else flags)
    except re.error as error:
        raise failure(51111, f"Invalid Regex in {name}: {error}") from None
    return (None if _nullish(value) or _nullish(regex) else value), compiled


def _match_document(match: re.Match[str]) -> dict[str, Any]:
    return {"match": match.group(0), "idx": match.start(), "captures": list(match.groups())}


@_special("$regexMatch")
def _regex_match(raw: Any, scope: Scope) -> bool:
    value, pattern = _regex_input("$regexMatch", raw, scope)
    return value is not None and pattern.search(value) is not None


@_special("$regexFind")
def _regex_find(raw: Any, scope: Scope) -> Any:
    value, pattern = _regex_input("$regexFind", raw, scope)
    match = pattern.search(value) if value is not None else None
    return _match_document(match) if match else None


@_special("$regexFindAll")
def _regex_find_all(raw: Any, scope: Scope) -> list[Any]:
    value, pattern = _regex_input("$regexFindAll", raw, scope)
    return [_match_document(m) for m in pattern.finditer(value)] if value is not None else []


def _replacer(name: str, count: int) -> None:
    @_special(name)
    def op(raw: Any, scope: Scope) -> Any:
        spec = _named_args(name, raw, ("input", "find", "replacement"))
        values = [scope.eval(spec[k]) for k in ("input", "find", "replacement")]
        for key, value in zip(("input", "find", "replacement"), values, strict=True):
            if not _nullish(value) and not isinstance(value, str):
                raise failure(
                    51746, f"{name} requires that '{key}' be a string, found: {type_name(value)}"
                )
        if any(_nullish(v) for v in values):
            return None
        text, old, new = values
        return text.replace(old, new, count)


_replacer("$replaceOne", 1)
_replacer("$replaceAll", -1)


# --- arrays -----------------------------------------------------------------------------


def _array_or_null(name: str, value: Any, code: int, what: str = "argument") -> list[Any] | None:
    if _nullish(value):
        return None
    if not isinstance(value, list):
        raise failure(code, f"{name}'s {what} must be an array, but is {type_name(value)}")
    return value


@_operator("$size", 1)
def _size(value: Any) -> int:
    if not isinstance(value, list):
        raise failure(
            17124,
            f"The argument to $size must be an array. Type of the argument was: {type_name(value)}",
        )
    return len(value)


@_operator("$isArray", 1)
def _is_array(value: Any) -> bool:
    return isinstance(value, list)


def _element_at(array: list[Any], index: int) -> Any:
    if -len(array) <= index < len(array):
        return array[index]
    return MISSING


@_operator("$arrayElemAt", 2)
def _array_elem_at(array: Any, index: Any) -> Any:
    if _nullish(array) or _nullish(index):
        return None
    array = _array_or_null("$arrayElemAt", array, 28689, "first argument")
    if not is_number(index):
        raise failure(
            28690,
            f"$arrayElemAt's second argument must be a numeric value, but is {type_name(index)}",
        )
    position = _to_python_number(index)
    if position != int(position):
        raise failure(
            28691,
            f"$arrayElemAt's second argument must be representable as a 32-bit integer: {position}",
        )
    assert array is not None
    return _element_at(array, int(position))


@_operator("$first", 1)
def _first(value: Any) -> Any:
    array = _array_or_null("$first", value, 28689)
    return None if array is None else _element_at(array, 0)


@_operator("$last", 1)
def _last(value: Any) -> Any:
    array = _array_or_null("$last", value, 28689)
    return None if array is None else _element_at(array, -1)


@_operator("$in", 2)
def _in(value: Any, array: Any) -> bool:
    if not isinstance(array, list):
        raise failure(
            40081, f"$in requires an array as a second argument, found: {type_name(array)}"
        )
    return any(compare_values(value, element) == 0 for element in array)


@_operator("$indexOfArray", (2, 4))
def _index_of_array(array: Any, value: Any, *bounds: Any) -> Any:
    if _nullish(array):
        return None
    if not isinstance(array, list):
        raise failure(
            40090, f"$indexOfArray requires an array as a first argument, found: {type_name(array)}"
        )
    start, end = _search_range("$indexOfArray", bounds, len(array))
    for i in range(start, min(end, len(array))):
        if compare_values(array[i], value) == 0:
            return i
    return -1


@_operator("$concatArrays")
def _concat_arrays(*values: Any) -> Any:
    if any(_nullish(v) for v in values):
        return None
    out: list[Any] = []
    for v in values:
        if not isinstance(v, list):
            raise failure(28664, f"$concatArrays only supports arrays, not {type_name(v)}")
        out.extend(v)
    return out


@_operator("$reverseArray", 1)
def _reverse_array(value: Any) -> Any:
    if _nullish(value):
        return None
    if not isinstance(value, list):
        raise failure(
            34435,
            f"The argument to $reverseArray must be an array, but was of type: {type_name(value)}",
        )
    return value[::-1]


@_operator("$slice", (2, 3))
def _slice(array: Any, *numbers: Any) -> Any:
    if _nullish(array) or any(_nullish(n) for n in numbers):
        return None
    if not isinstance(array, list):
        raise failure(
            28724, f"First argument to $slice must be an array, but is of type: {type_name(array)}"
        )
    counts = [_integer_arg("$slice", "argument", n, 28725) for n in numbers]
    if len(counts) == 1:
        (n,) = counts
        return array[:n] if n >= 0 else array[max(len(array) + n, 0) :]
    position, n = counts
    if n <= 0:
        raise failure(28729, f"Third argument to $slice must be positive: {n}")
    start = position if position >= 0 else max(len(array) + position, 0)
    return array[start : start + n]


@_operator("$range", (2, 3))
def _range(start: Any, end: Any, step: Any = 1) -> list[int]:
    first = _integer_arg("$range", "starting value", start, 34443)
    last = _integer_arg("$range", "ending value", end, 34445)
    increment = _integer_arg("$range", "step value", step, 34447)
    if increment == 0:
        raise failure(34449, "$range requires a non-zero step value")
    return list(range(first, last, increment))


def _item_scope(name: str, spec: Mapping[str, Any], scope: Scope) -> tuple[list[Any] | None, str]:
    array = scope.eval(spec["input"])
    alias = spec.get("as", "this")
    if not isinstance(alias, str):
        raise failure(16866, f"{name}: 'as' must be a string")
    _check_variable_name(alias)
    if _nullish(array):
        return None, alias
    if not isinstance(array, list):
        code = {"$map": 16883, "$filter": 28651}[name]
        raise failure(code, f"input to {name} must be an array not {type_name(array)}")
    return array, alias


@_special("$map")
def _map(raw: Any, scope: Scope) -> Any:
    spec = _named_args("$map", raw, ("input", "in"), ("as",))
    array, alias = _item_scope("$map", spec, scope)
    if array is None:
        return None
    return [_or_null(scope.bind(**{alias: item}).eval(spec["in"])) for item in array]


@_special("$filter")
def _filter(raw: Any, scope: Scope) -> Any:
    spec = _named_args("$filter", raw, ("input", "cond"), ("as", "limit"))
    array, alias = _item_scope("$filter", spec, scope)
    limit = scope.eval(spec["limit"]) if "limit" in spec else None
    if array is None:
        return None
    if limit is not None:
        limit = _integer_arg("$filter", "limit", limit, 327391)
        if limit < 1:
            raise failure(327392, f"$filter: limit must be greater than 0: {limit}")
    out = []
    for item in array:
        if truthy(scope.bind(**{alias: item}).eval(spec["cond"])):
            out.append(item)
            if limit is not None and len(out) == limit:
                break
    return out


@_special("$reduce")
def _reduce(raw: Any, scope: Scope) -> Any:
    spec = _named_args("$reduce", raw, ("input", "initialValue", "in"))
    array = scope.eval(spec["input"])
    if _nullish(array):
        return None
    if not isinstance(array, list):
        raise failure(
            40080, f"$reduce requires that 'input' be an array, found: {type_name(array)}"
        )
    value = scope.eval(spec["initialValue"])
    for item in array:
        value = scope.bind(value=value, this=item).eval(spec["in"])
    return value


@_special("$zip")
def _zip_arrays(raw: Any, scope: Scope) -> Any:
    spec = _named_args("$zip", raw, ("inputs",), ("useLongestLength", "defaults"))
    arrays = scope.eval(spec["inputs"])
    if not isinstance(arrays, list):
        raise failure(34461, "inputs must be an array of expressions")
    if any(_nullish(a) for a in arrays):
        return None
    for a in arrays:
        if not isinstance(a, list):
            raise failure(34468, f"$zip found a non-array expression in input: {type_name(a)}")
    longest = bool(spec.get("useLongestLength", False))
    defaults = scope.eval(spec["defaults"]) if "defaults" in spec else [None] * len(arrays)
    size = max(map(len, arrays), default=0) if longest else min(map(len, arrays), default=0)
    return [
        [a[i] if i < len(a) else defaults[j] for j, a in enumerate(arrays)] for i in range(size)
    ]


def _n_of_array(name: str, pick: Callable[[list[Any], int], list[Any]]) -> None:
    @_special(name)
    def op(raw: Any, scope: Scope) -> Any:
        spec = _named_args(name, raw, ("n", "input"))
        n = positive_n(scope.eval(spec["n"]))
        array = scope.eval(spec["input"])
        if _nullish(array):
            return None
        if not isinstance(array, list):
            raise failure(5788200, f"Input to {name} must be an array, found {type_name(array)}")
        return pick(array, n)


def positive_n(value: Any) -> int:
    """The `n` of the ``$firstN`` family: a positive integer, or an OperationFailure."""
    if not is_number(value) or _to_python_number(value) != int(_to_python_number(value)):
        raise failure(5787902, f"Value for 'n' must be of integral type, but found {value!r}")
    if value < 1:
        raise failure(5787908, f"'n' must be greater than 0, found {value}")
    return int(value)


def _ordered(array: list[Any], descending: bool) -> list[Any]:
    present = [v for v in array if not _nullish(v)]
    return sorted(present, key=sort_value, reverse=descending)


_n_of_array("$firstN", lambda array, n: array[:n])
_n_of_array("$lastN", lambda array, n: array[-n:])
_n_of_array("$maxN", lambda array, n: _ordered(array, descending=True)[:n])
_n_of_array("$minN", lambda array, n: _ordered(array, descending=False)[:n])


# Set operators treat arrays as sets under MongoDB equality.


def _set_arrays(name: str, values: tuple[Any, ...], code: int) -> list[list[Any]] | None:
    if any(_nullish(v) for v in values):
        return None
    for v in values:
        if not isinstance(v, list):
            raise failure(
                code,
                f"All operands of {name} must be arrays. One argument is of type: {type_name(v)}",
            )
    return list(values)


def _distinct(values: list[Any]) -> list[Any]:
    seen: dict[Any, Any] = {}
    for v in values:
        seen.setdefault(hash_key(v), v)
    return list(seen.values())


@_operator("$setUnion")
def _set_union(*values: Any) -> Any:
    arrays = _set_arrays("$setUnion", values, 17043)
    return None if arrays is None else _distinct([v for a in arrays for v in a])


@_operator("$setIntersection")
def _set_intersection(*values: Any) -> Any:
    arrays = _set_arrays("$setIntersection", values, 17047)
    if arrays is None:
        return None
    if not arrays:
        return []
    keys = [{hash_key(v) for v in a} for a in arrays[1:]]
    return [v for v in _distinct(arrays[0]) if all(hash_key(v) in k for k in keys)]


@_operator("$setDifference", 2)
def _set_difference(a: Any, b: Any) -> Any:
    arrays = _set_arrays("$setDifference", (a, b), 17048)
    if arrays is None:
        return None
    removed = {hash_key(v) for v in arrays[1]}
    return [v for v in _distinct(arrays[0]) if hash_key(v) not in removed]


@_operator("$setEquals")
def _set_equals(*values: Any) -> bool:
    if len(values) < 2:
        raise failure(17045, f"$setEquals needs at least two arguments had: {len(values)}")
    for v in values:
        if not isinstance(v, list):
            raise failure(
                17044,
                "All operands of $setEquals must be arrays. "
                f"One argument is of type: {type_name(v)}",
            )
    keys = [{hash_key(v) for v in a} for a in values]
    return all(k == keys[0] for k in keys)


@_operator("$setIsSubset", 2)
def _set_is_subset(a: Any, b: Any) -> bool:
    for v, code in ((a, 17046), (b, 17042)):
        if not isinstance(v, list):
            raise failure(
                code,
                "both operands of $setIsSubset must be arrays. "
                f"Argument is of type: {type_name(v)}",
            )
    return {hash_key(v) for v in a} <= {hash_key(v) for v in b}


@_operator("$allElementsTrue", 1)
def _all_elements_true(value: Any) -> bool:
    if not isinstance(value, list):
        raise failure(
            17040, f"$allElementsTrue's argument must be an array, but is {type_name(value)}"
        )
    return all(truthy(v) for v in value)


@_operator("$anyElementTrue", 1)
def _any_element_true(value: Any) -> bool:
    if not isinstance(value, list):
        raise failure(
            17041, f"$anyElementTrue's argument must be an array, but is {type_name(value)}"
        )
    return any(truthy(v) for v in value)


# --- accumulating functions ($group accumulators and their expression forms) -----------


def sum_numbers(values: list[Any]) -> Any:
    """MongoDB's $sum: numbers only (others ignored), 0 when there are none."""
    numbers = [v for v in values if is_number(v)]
    if any(isinstance(v, Decimal128) for v in numbers):
        exact = sum((Decimal(str(_to_python_number(v))) for v in numbers), Decimal(0))
        return Decimal128(exact)
    if any(isinstance(v, float) for v in numbers):
        return math.fsum(float(v) for v in numbers)
    total = sum(int(v) for v in numbers)
    if any(isinstance(v, Int64) for v in numbers) or not -_INT32 <= total < _INT32:
        return Int64(total) if -_INT64 <= total < _INT64 else float(total)
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
        if _nullish(v):
            continue
        if best is MISSING or compare_values(v, best) * sign > 0:
            best = v
    return None if best is MISSING else best


def std_dev(values: list[Any], sample: bool) -> Any:
    """MongoDB's $stdDevPop / $stdDevSamp over the numbers; null when undefined."""
    numbers = [float(_to_python_number(v)) for v in values if is_number(v)]
    count = len(numbers) - (1 if sample else 0)
    if count <= 0:
        return None
    mean = math.fsum(numbers) / len(numbers)
    return math.sqrt(math.fsum((x - mean) ** 2 for x in numbers) / count)


def _accumulating(name: str, fn: Callable[[list[Any]], Any]) -> None:
    @_operator(name)
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


# --- types and conversion ---------------------------------------------------------------


class _ConversionError(Exception):
    """A value that $convert cannot turn into the target type (MongoDB code 241)."""


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


@_operator("$type", 1)
def _type(value: Any) -> str:
    return type_name(value)


@_operator("$isNumber", 1)
def _is_number(value: Any) -> bool:
    return is_number(value)


def _millis(date: datetime.datetime) -> int:
    if date.tzinfo is None:
        date = date.replace(tzinfo=datetime.UTC)
    delta = date - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _from_millis(millis: int) -> datetime.datetime:
    return datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=millis)


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
        return _format_date(_as_utc(value), "%Y-%m-%dT%H:%M:%S.%LZ")
    if isinstance(value, Timestamp):
        return f"Timestamp({value.time}, {value.inc})"
    raise _ConversionError(f"Unsupported conversion from {type_name(value)} to string")


def _to_int(value: Any, low: int, high: int, target: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        if not _INTEGER_STRING.fullmatch(value):
            raise _ConversionError(
                f"Failed to parse number '{value}' in $convert with no onError value"
            )
        number: Any = int(value)
    elif is_number(value):
        number = _to_python_number(value)
        if isinstance(number, (float, Decimal)) and not math.isfinite(number):
            raise _ConversionError(f"Attempt to convert {number} value to {target}")
        number = int(number)
    elif isinstance(value, datetime.datetime) and target == "long":
        number = _millis(value)
    else:
        raise _ConversionError(f"Unsupported conversion from {type_name(value)} to {target}")
    if not low <= number < high:
        raise _ConversionError(f"Conversion would overflow target type in $convert: {value}")
    return number


def _to_double(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if is_number(value):
        return float(_to_python_number(value))
    if isinstance(value, str):
        if not _FLOAT_STRING.fullmatch(value):
            raise _ConversionError(
                f"Failed to parse number '{value}' in $convert with no onError value"
            )
        return float(value)
    if isinstance(value, datetime.datetime):
        return float(_millis(value))
    raise _ConversionError(f"Unsupported conversion from {type_name(value)} to double")


def _to_decimal(value: Any) -> Decimal128:
    if isinstance(value, Decimal128):
        return value
    if isinstance(value, datetime.datetime):
        return Decimal128(Decimal(_millis(value)))
    if isinstance(value, float):
        return Decimal128(Decimal(repr(value)))
    if isinstance(value, int):
        return Decimal128(Decimal(int(value)))
    if isinstance(value, str) and _FLOAT_STRING.fullmatch(value):
        return Decimal128(Decimal(value))
    raise _ConversionError(f"Unsupported conversion from {type_name(value)} to decimal: {value!r}")


def _to_bool(value: Any) -> bool:
    if is_number(value):
        return truthy(value)
    return value is not False


def _to_object_id(value: Any) -> ObjectId:
    if isinstance(value, ObjectId):
        return value
    if isinstance(value, str) and ObjectId.is_valid(value) and len(value) == 24:
        return ObjectId(value)
    raise _ConversionError(f"Failed to parse objectId '{value}' in $convert with no onError value")


def _to_date(value: Any) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return _naive(_as_utc(value))
    if isinstance(value, (ObjectId, Timestamp)):
        return _naive(_as_utc(_date_of(value)))
    if isinstance(value, str):
        return _parse_date(value)
    if is_number(value) and type_name(value) != "int":
        number = _to_python_number(value)
        if isinstance(number, (float, Decimal)) and not math.isfinite(number):
            raise _ConversionError("Unsupported conversion from non-finite number to date")
        return _from_millis(int(number))
    raise _ConversionError(f"Unsupported conversion from {type_name(value)} to date")


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "double": _to_double,
    "string": to_string,
    "objectId": _to_object_id,
    "bool": _to_bool,
    "date": _to_date,
    "int": lambda v: _to_int(v, -_INT32, _INT32, "int"),
    "long": lambda v: Int64(_to_int(v, -_INT64, _INT64, "long")),
    "decimal": _to_decimal,
}


def convert(value: Any, target: str) -> Any:
    """`value` converted to the BSON type named `target`; null stays null."""
    if _nullish(value):
        return None
    try:
        return _CONVERTERS[target](value)
    except _ConversionError as error:
        raise failure(241, str(error)) from None


def _converter(name: str, target: str) -> None:
    @_operator(name, 1)
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


@_special("$convert")
def _convert(raw: Any, scope: Scope) -> Any:
    spec = _named_args("$convert", raw, ("input", "to"), ("onError", "onNull"))
    target = scope.eval(spec["to"])
    if isinstance(target, Mapping):
        target = target.get("type")
    if is_number(target):
        target = _TYPE_CODES.get(int(_to_python_number(target)), str(target))
    if target not in _CONVERTERS:
        raise failure(2, f"Unknown type name: {target}")
    value = scope.eval(spec["input"])
    if _nullish(value):
        return scope.eval(spec["onNull"]) if "onNull" in spec else None
    try:
        return _CONVERTERS[target](value)
    except _ConversionError as error:
        if "onError" in spec:
            return scope.eval(spec["onError"])
        raise failure(241, str(error)) from None


# --- dates --------------------------------------------------------------------------------

_UTC_NAMES = frozenset({"UTC", "GMT", "Etc/UTC", "Etc/GMT"})
_OFFSET = re.compile(r"([+-])([0-9]{2}):?([0-9]{2})?")
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAY_UNITS = {"day": 1, "week": 7}
_TIME_UNITS = {"hour": 3_600_000, "minute": 60_000, "second": 1000, "millisecond": 1}
_MONTH_UNITS = {"year": 12, "quarter": 3, "month": 1}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _date_of(value: Any, name: str = "date") -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, ObjectId):
        return value.generation_time
    if isinstance(value, Timestamp):
        return value.as_datetime()
    raise failure(16006, f"can't convert from BSON type {type_name(value)} to Date")


def _as_utc(date: datetime.datetime) -> datetime.datetime:
    if date.tzinfo is None:
        return date.replace(tzinfo=datetime.UTC)
    return date.astimezone(datetime.UTC)


def _naive(date: datetime.datetime) -> datetime.datetime:
    """A naive UTC datetime with millisecond precision, as PyMongo returns dates."""
    date = date.astimezone(datetime.UTC).replace(tzinfo=None) if date.tzinfo else date
    return date.replace(microsecond=date.microsecond // 1000 * 1000)


def _timezone(value: Any) -> datetime.tzinfo:
    if _nullish(value):
        return datetime.UTC
    if not isinstance(value, str):
        raise failure(40517, f"timezone must evaluate to a string, found {type_name(value)}")
    match = _OFFSET.fullmatch(value)
    if match:
        sign, hours, minutes = match.groups()
        offset = datetime.timedelta(hours=int(hours), minutes=int(minutes or 0))
        return datetime.timezone(-offset if sign == "-" else offset)
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise failure(40485, f'unrecognized time zone identifier: "{value}"') from None


def _parse_date(text: str, zone: datetime.tzinfo = datetime.UTC) -> datetime.datetime:
    try:
        parsed = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise _ConversionError(f"Error parsing date string '{text}'") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return _naive(parsed)


def _local_date(name: str, raw: Any, scope: Scope) -> datetime.datetime | None:
    """The date argument of a date-part operator, in its timezone; None for null."""
    zone_expr = None
    if isinstance(raw, list):
        if len(raw) != 1:
            raise _arity_error(name, 1, len(raw))
        raw = raw[0]
    if isinstance(raw, Mapping) and "date" in raw:
        spec = _named_args(name, raw, ("date",), ("timezone",))
        raw, zone_expr = spec["date"], spec.get("timezone")
    value = scope.eval(raw)
    zone = scope.eval(zone_expr)
    if _nullish(value) or (zone_expr is not None and _nullish(zone)):
        return None
    return _as_utc(_date_of(value)).astimezone(_timezone(zone))


def _date_part(name: str, part: Callable[[datetime.datetime], int]) -> None:
    @_special(name)
    def op(raw: Any, scope: Scope) -> Any:
        date = _local_date(name, raw, scope)
        return None if date is None else part(date)


for _name, _part in (
    ("$year", lambda d: d.year),
    ("$month", lambda d: d.month),
    ("$dayOfMonth", lambda d: d.day),
    ("$hour", lambda d: d.hour),
    ("$minute", lambda d: d.minute),
    ("$second", lambda d: d.second),
    ("$millisecond", lambda d: d.microsecond // 1000),
    ("$dayOfYear", lambda d: d.timetuple().tm_yday),
    ("$dayOfWeek", lambda d: d.isoweekday() % 7 + 1),
    ("$week", lambda d: int(d.strftime("%U"))),
    ("$isoWeek", lambda d: d.isocalendar().week),
    ("$isoWeekYear", lambda d: d.isocalendar().year),
    ("$isoDayOfWeek", lambda d: d.isoweekday()),
):
    _date_part(_name, _part)


def _offset_minutes(date: datetime.datetime) -> int:
    offset = date.utcoffset() or datetime.timedelta()
    return int(offset.total_seconds()) // 60


def _format_specifier(date: datetime.datetime, letter: str) -> str:
    iso = date.isocalendar()
    minutes = _offset_minutes(date)
    sign = "-" if minutes < 0 else "+"
    table: dict[str, Callable[[], str]] = {
        "Y": lambda: f"{date.year:04d}",
        "m": lambda: f"{date.month:02d}",
        "d": lambda: f"{date.day:02d}",
        "H": lambda: f"{date.hour:02d}",
        "M": lambda: f"{date.minute:02d}",
        "S": lambda: f"{date.second:02d}",
        "L": lambda: f"{date.microsecond // 1000:03d}",
        "j": lambda: f"{date.timetuple().tm_yday:03d}",
        "w": lambda: str(date.isoweekday() % 7 + 1),
        "u": lambda: str(iso.weekday),
        "U": lambda: date.strftime("%U"),
        "V": lambda: f"{iso.week:02d}",
        "G": lambda: f"{iso.year:04d}",
        "z": lambda: f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}",
        "Z": lambda: f"{sign}{abs(minutes)}",
        "b": lambda: _MONTHS[date.month - 1][:3],
        "B": lambda: _MONTHS[date.month - 1],
        "%": lambda: "%",
    }
    if letter not in table:
        raise failure(18536, f"Invalid format character '%{letter}' in format string")
    return table[letter]()


def _format_date(date: datetime.datetime, fmt: str) -> str:
    out = []
    i = 0
    while i < len(fmt):
        if fmt[i] == "%":
            if i + 1 == len(fmt):
                raise failure(18535, "Unmatched '%' at end of format string")
            out.append(_format_specifier(date, fmt[i + 1]))
            i += 2
        else:
            out.append(fmt[i])
            i += 1
    return "".join(out)


@_special("$dateToString")
def _date_to_string(raw: Any, scope: Scope) -> Any:
    spec = _named_args("$dateToString", raw, ("date",), ("format", "timezone", "onNull"))
    value = scope.eval(spec["date"])
    fmt = scope.eval(spec.get("format"))
    zone = scope.eval(spec.get("timezone"))
    if _nullish(value):
        return scope.eval(spec["onNull"]) if "onNull" in spec else None
    if ("format" in spec and _nullish(fmt)) or ("timezone" in spec and _nullish(zone)):
        return None
    if fmt is not None and not isinstance(fmt, str):
        raise failure(
            18533, f"$dateToString requires that 'format' be a string, found: {type_name(fmt)}"
        )
    date = _as_utc(_date_of(value)).astimezone(_timezone(zone))
    utc = _nullish(zone) or zone in _UTC_NAMES or _timezone(zone) == datetime.UTC
    # The default format ends in "Z" only when the result is in UTC.
    default = "%Y-%m-%dT%H:%M:%S.%LZ" if utc else "%Y-%m-%dT%H:%M:%S.%L"
    return _format_date(date, fmt or default)


_STRPTIME = {"L": "%f", "Z": None, "%": "%%"}


@_special("$dateFromString")
def _date_from_string(raw: Any, scope: Scope) -> Any:
    spec = _named_args(
        "$dateFromString", raw, ("dateString",), ("format", "timezone", "onError", "onNull")
    )
    text = scope.eval(spec["dateString"])
    zone = _timezone(scope.eval(spec.get("timezone")))
    if _nullish(text):
        return scope.eval(spec["onNull"]) if "onNull" in spec else None
    try:
        if not isinstance(text, str):
            raise _ConversionError(
                f"$dateFromString requires that 'dateString' be a string, found: {type_name(text)}"
            )
        fmt = scope.eval(spec.get("format"))
        if fmt is None:
            return _parse_date(text, zone)
        pattern = re.sub(r"%(.)", lambda m: _STRPTIME.get(m[1], m[0]) or "\0", fmt)
        if "\0" in pattern:
            raise failure(18536, f"Invalid format character in format string: {fmt}")
        try:
            parsed = datetime.datetime.strptime(text, pattern)
        except ValueError:
            raise _ConversionError(
                f"Error parsing date string '{text}' with format '{fmt}'"
            ) from None
        return _naive(parsed if parsed.tzinfo else parsed.replace(tzinfo=zone))
    except _ConversionError as error:
        if "onError" in spec:
            return scope.eval(spec["onError"])
        raise failure(241, str(error)) from None


_PART_DEFAULTS = {"month": 1, "day": 1, "hour": 0, "minute": 0, "second": 0, "millisecond": 0}


@_special("$dateFromParts")
def _date_from_parts(raw: Any, scope: Scope) -> Any:
    spec = _named_args("$dateFromParts", raw, ("year",), (*_PART_DEFAULTS, "timezone"))
    parts = {k: scope.eval(spec.get(k, default)) for k, default in _PART_DEFAULTS.items()}
    year = scope.eval(spec["year"])
    zone = scope.eval(spec.get("timezone"))
    if _nullish(year) or any(_nullish(v) for v in parts.values()):
        return None
    year = _integer_arg("$dateFromParts", "year", year, 40515)
    if not 1 <= year <= 9999:
        raise failure(
            40523, f"'year' must evaluate to an integer in the range 1 to 9999, found {year}"
        )
    values = {k: _integer_arg("$dateFromParts", k, v, 40515) for k, v in parts.items()}
    years, month = divmod(values["month"] - 1, 12)
    start = datetime.datetime(year + years, month + 1, 1, tzinfo=_timezone(zone))
    local = start + datetime.timedelta(
        days=values["day"] - 1,
        hours=values["hour"],
        minutes=values["minute"],
        seconds=values["second"],
        milliseconds=values["millisecond"],
    )
    return _naive(local)


@_special("$dateToParts")
def _date_to_parts(raw: Any, scope: Scope) -> Any:
    spec = _named_args("$dateToParts", raw, ("date",), ("timezone", "iso8601"))
    date = _local_date(
        "$dateToParts", {k: spec[k] for k in ("date", "timezone") if k in spec}, scope
    )
    if date is None:
        return None
    tail = {
        "hour": date.hour,
        "minute": date.minute,
        "second": date.second,
        "millisecond": date.microsecond // 1000,
    }
    if truthy(scope.eval(spec.get("iso8601", False))):
        iso = date.isocalendar()
        return {"isoWeekYear": iso.year, "isoWeek": iso.week, "isoDayOfWeek": iso.weekday, **tail}
    return {"year": date.year, "month": date.month, "day": date.day, **tail}


def _unit(name: str, value: Any) -> str:
    if not isinstance(value, str) or value not in (*_MONTH_UNITS, *_DAY_UNITS, *_TIME_UNITS):
        raise failure(9, f"{name}: unknown time unit value: {value}")
    return value


def _add_months(date: datetime.datetime, months: int) -> datetime.datetime:
    """`date` moved by whole months, the day clamped to the target month's length."""
    years, month = divmod(date.month - 1 + months, 12)
    year, month = date.year + years, month + 1
    return date.replace(year=year, month=month, day=min(date.day, monthrange(year, month)[1]))


def _date_arith(name: str, sign: int) -> None:
    @_special(name)
    def op(raw: Any, scope: Scope) -> Any:
        spec = _named_args(name, raw, ("startDate", "unit", "amount"), ("timezone",))
        start, unit, amount, zone = (
            scope.eval(spec.get(k)) for k in ("startDate", "unit", "amount", "timezone")
        )
        if _nullish(start) or _nullish(unit) or _nullish(amount):
            return None
        unit = _unit(name, unit)
        count = sign * _integer_arg(name, "amount", amount, 5166402)
        local = _as_utc(_date_of(start)).astimezone(_timezone(zone))
        if unit in _MONTH_UNITS:
            local = _add_months(local, count * _MONTH_UNITS[unit])
        elif unit in _DAY_UNITS:
            # Whole days move the wall clock, so they stay put across a DST change.
            naive_local = local.replace(tzinfo=None) + datetime.timedelta(
                days=count * _DAY_UNITS[unit]
            )
            local = naive_local.replace(tzinfo=local.tzinfo)
        else:
            local = local + datetime.timedelta(milliseconds=count * _TIME_UNITS[unit])
        return _naive(local)


_date_arith("$dateAdd", 1)
_date_arith("$dateSubtract", -1)


def _week_start(date: datetime.datetime, first_day: str) -> datetime.date:
    offset = (date.weekday() - _WEEKDAYS.index(first_day)) % 7
    return date.date() - datetime.timedelta(days=offset)


def _first_day(value: Any) -> str:
    """The weekday a week starts on, from MongoDB's `startOfWeek` ("mon", "Monday", ...)."""
    text = str(value).lower()
    for day in _WEEKDAYS:
        if len(text) >= 3 and day.startswith(text):
            return day
    raise failure(5439015, f"unknown startOfWeek value: {value}")


# $dateTrunc counts bins of `binSize` units from this local time, as MongoDB does.
_TRUNC_REFERENCE = datetime.datetime(2000, 1, 1)


@_special("$dateTrunc")
def _date_trunc(raw: Any, scope: Scope) -> Any:
    spec = _named_args("$dateTrunc", raw, ("date", "unit"), ("binSize", "timezone", "startOfWeek"))
    value, unit, size, zone = (
        scope.eval(spec.get(k, 1 if k == "binSize" else None))
        for k in ("date", "unit", "binSize", "timezone")
    )
    if _nullish(value) or _nullish(unit) or _nullish(size):
        return None
    unit = _unit("$dateTrunc", unit)
    bins = _integer_arg("$dateTrunc", "binSize", size, 5439017)
    if bins < 1:
        raise failure(
            5439018, f"$dateTrunc requires 'binSize' to be greater than 0, but got {bins}"
        )
    tz = _timezone(zone)
    local = _as_utc(_date_of(value)).astimezone(tz).replace(tzinfo=None)
    if unit in _MONTH_UNITS:
        months = (local.year - 2000) * 12 + local.month - 1
        months -= months % (bins * _MONTH_UNITS[unit])
        start = datetime.datetime(2000 + months // 12, months % 12 + 1, 1)
    elif unit == "week":
        first_day = _first_day(scope.eval(spec.get("startOfWeek", "sunday")))
        reference = _week_start(_TRUNC_REFERENCE, first_day)
        weeks = (_week_start(local, first_day) - reference).days // 7
        start = datetime.datetime.combine(reference, datetime.time()) + datetime.timedelta(
            weeks=weeks - weeks % bins
        )
    else:
        step = bins * (86_400_000 if unit == "day" else _TIME_UNITS[unit])
        elapsed = _millis(local) - _millis(_TRUNC_REFERENCE)
        start = _from_millis(_millis(_TRUNC_REFERENCE) + elapsed - elapsed % step)
    return _naive(start.replace(tzinfo=tz))


@_special("$dateDiff")
def _date_diff(raw: Any, scope: Scope) -> Any:
    spec = _named_args(
        "$dateDiff", raw, ("startDate", "endDate", "unit"), ("timezone", "startOfWeek")
    )
    start, end, unit, zone = (
        scope.eval(spec.get(k)) for k in ("startDate", "endDate", "unit", "timezone")
    )
    if _nullish(start) or _nullish(end) or _nullish(unit):
        return None
    unit = _unit("$dateDiff", unit)
    tz = _timezone(zone)
    a = _as_utc(_date_of(start)).astimezone(tz)
    b = _as_utc(_date_of(end)).astimezone(tz)
    if unit in _MONTH_UNITS:
        size = _MONTH_UNITS[unit]
        return Int64((b.year * 12 + b.month - 1) // size - (a.year * 12 + a.month - 1) // size)
    if unit == "week":
        first_day = _first_day(scope.eval(spec.get("startOfWeek", "sunday")))
        return Int64((_week_start(b, first_day) - _week_start(a, first_day)).days // 7)
    if unit == "day":
        return Int64((b.date() - a.date()).days)
    size = _TIME_UNITS[unit]
    return Int64(_millis(b) // size - _millis(a) // size)


# --- objects ------------------------------------------------------------------------------


@_operator("$mergeObjects")
def _merge_objects(*values: Any) -> dict[str, Any]:
    return merge_documents(values)


def merge_documents(values: Any) -> dict[str, Any]:
    """MongoDB's $mergeObjects: later fields win, null and missing inputs are skipped."""
    out: dict[str, Any] = {}
    for v in values:
        if _nullish(v):
            continue
        if not isinstance(v, Mapping):
            raise failure(
                40400,
                f"$mergeObjects requires object inputs, but input {v!r} is of type {type_name(v)}",
            )
        out.update(v)
    return out


@_operator("$objectToArray", 1)
def _object_to_array(value: Any) -> Any:
    if _nullish(value):
        return None
    if not isinstance(value, Mapping):
        raise failure(40390, f"$objectToArray requires a document input, found: {type_name(value)}")
    return [{"k": k, "v": v} for k, v in value.items()]


@_operator("$arrayToObject", 1)
def _array_to_object(value: Any) -> Any:
    if _nullish(value):
        return None
    if not isinstance(value, list):
        raise failure(40386, f"$arrayToObject requires an array input, found: {type_name(value)}")
    out: dict[str, Any] = {}
    for item in value:
        if isinstance(item, list):
            if len(item) != 2:
                raise failure(
                    40397,
                    "$arrayToObject requires an array of size 2 arrays, "
                    f"found array of size: {len(item)}",
                )
            key, val = item
        elif isinstance(item, Mapping):
            if set(item) != {"k", "v"}:
                raise failure(40393, "$arrayToObject requires an object with keys 'k' and 'v'.")
            key, val = item["k"], item["v"]
        else:
            raise failure(
                40398, f"Unrecognised input type format for $arrayToObject: {type_name(item)}"
            )
        if not isinstance(key, str):
            raise failure(
                40395,
                "$arrayToObject requires an array of key-value pairs, where the key must be of "
                f"type string. Found key type: {type_name(key)}",
            )
        out[key] = val
    return out


def _field_spec(
    name: str, raw: Any, scope: Scope, extra: tuple[str, ...]
) -> tuple[str, Any, dict[str, Any]]:
    if not isinstance(raw, Mapping) or not any(k in raw for k in ("field", "input")):
        raw = {"field": raw}
    spec = _named_args(name, raw, ("field",), ("input", *extra))
    field = scope.eval(spec["field"])
    if not isinstance(field, str):
        raise failure(
            3041704,
            f"{name} requires 'field' to evaluate to type String, but got {type_name(field)}",
        )
    source = scope.eval(spec.get("input", "$$CURRENT"))
    return field, source, spec


@_special("$getField")
def _get_field(raw: Any, scope: Scope) -> Any:
    field, source, _ = _field_spec("$getField", raw, scope, ())
    if _nullish(source):
        return None
    if not isinstance(source, Mapping):
        return MISSING
    return source.get(field, MISSING)


@_special("$setField")
def _set_field(raw: Any, scope: Scope) -> Any:
    field, source, spec = _field_spec("$setField", raw, scope, ("value",))
    if "value" not in spec:
        raise failure(4161102, "$setField requires 'value' to be specified")
    if _nullish(source):
        return None
    if not isinstance(source, Mapping):
        raise failure(
            4161105,
            f"$setField requires 'input' to evaluate to type Object, but got {type_name(source)}",
        )
    value = scope.eval(spec["value"])
    out = dict(source)
    if value is MISSING:
        out.pop(field, None)
    else:
        out[field] = value
    return out


@_special("$unsetField")
def _unset_field(raw: Any, scope: Scope) -> Any:
    field, source, _ = _field_spec("$unsetField", raw, scope, ())
    if _nullish(source):
        return None
    if not isinstance(source, Mapping):
        raise failure(
            4161105,
            f"$unsetField requires 'input' to evaluate to type Object, but got {type_name(source)}",
        )
    return {k: v for k, v in source.items() if k != field}


@_operator("$bsonSize", 1)
def _bson_size(value: Any) -> Any:
    if _nullish(value):
        return None
    if not isinstance(value, Mapping):
        raise failure(31393, f"$bsonSize requires a document input, found: {type_name(value)}")
    return len(bson.encode(value))


@_operator("$binarySize", 1)
def _binary_size(value: Any) -> Any:
    if _nullish(value):
        return None
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes):
        return len(value)
    raise failure(
        51276, f"$binarySize requires a string or BinData argument, found: {type_name(value)}"
    )


@_special("$rand")
def _rand(raw: Any, scope: Scope) -> float:
    return random.random()
