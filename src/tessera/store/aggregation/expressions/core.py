"""The expression evaluator: scopes, field paths, variables and the operator table.

`evaluate` turns an expression (field path, variable, literal, operator object or
expression object) into a value. A missing field evaluates to `MISSING`, which callers
such as ``$project`` use to leave the field out. Operator errors raise PyMongo's
`OperationFailure` with MongoDB's error code. The family modules register their
operators here with `operator` and `special`.
"""

import datetime
import math
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

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

from tessera.store.values.ordering import compare as bson_compare
from tessera.store.values.paths import MISSING, split_path

# The bounds of BSON's 32-bit int and 64-bit long.
INT32 = 2**31
INT64 = 2**63


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
            return [or_null(self.eval(e)) for e in expr]
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
        return to_python_number(value) != 0
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


def or_null(value: Any) -> Any:
    """`value`, with MISSING turned into null (as array elements and outputs need)."""
    return None if value is MISSING else value


def nullish(value: Any) -> bool:
    """True for null and missing, the values most operators answer with null."""
    return value is None or value is MISSING


def _now() -> datetime.datetime:
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


# MongoDB operators this evaluator knowingly lacks: server-side JavaScript and a few
# rarities. Naming them gives a clearer error than "unrecognized".
_UNSUPPORTED = frozenset(
    {
        "$function",
        "$accumulator",
        "$toHashedIndexKey",
        "$tsIncrement",
        "$tsSecond",
    }
)

_Handler = Callable[[Any, Scope], Any]
_OPERATORS: dict[str, _Handler] = {}


def arity_error(name: str, arity: int | tuple[int, int], given: int) -> OperationFailure:
    """The error for operator `name` given `given` arguments instead of `arity`."""
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


def operator(
    name: str, arity: int | tuple[int, int] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register an operator whose arguments are evaluated before it runs."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        def handler(raw: Any, scope: Scope) -> Any:
            args = raw if isinstance(raw, list) else [raw]
            if arity is not None:
                low, high = (arity, arity) if isinstance(arity, int) else arity
                if not low <= len(args) <= high:
                    raise arity_error(name, arity, len(args))
            return fn(*[scope.eval(a) for a in args])

        _OPERATORS[name] = handler
        return fn

    return register


def special(name: str) -> Callable[[_Handler], _Handler]:
    """Register an operator that reads its raw argument (lazy or object-shaped)."""

    def register(fn: _Handler) -> _Handler:
        _OPERATORS[name] = fn
        return fn

    return register


def named_args(
    name: str, raw: Any, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The object argument of operator `name`, checked for unknown and missing keys."""
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
        return "int" if -INT32 <= value < INT32 else "long"
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


def is_number(value: Any) -> bool:
    """True for BSON numbers (int, long, double, decimal); booleans are not numbers."""
    return isinstance(value, (int, float, Decimal128)) and not isinstance(value, bool)


def to_python_number(value: Any) -> int | float | Decimal:
    """`value` (a BSON number) as an int, float or Decimal to compute with."""
    if isinstance(value, Decimal128):
        return value.to_decimal()
    return value if isinstance(value, float) else int(value)


def compare_values(a: Any, b: Any) -> int:
    """Aggregation comparison: BSON order, with a missing value below null."""
    if a is MISSING or b is MISSING:
        if a is b:
            return 0
        other = b if a is MISSING else a
        sign = -1 if a is MISSING else 1
        return 0 if other is MISSING else (sign if not isinstance(other, MinKey) else -sign)
    return bson_compare(a, b)


def integer_arg(name: str, what: str, value: Any, code: int) -> int:
    """`value` as an int, or error `code` (not a number) or `code + 1` (not integral)."""
    if not is_number(value):
        raise failure(
            code, f"{name}: {what} must be a numeric type (is BSON type {type_name(value)})"
        )
    number = to_python_number(value)
    if not isinstance(number, int) and (not math.isfinite(number) or number != int(number)):
        raise failure(code + 1, f"{name}: {what} must be an integral value, found {number}")
    return int(number)


def check_variable_name(name: str) -> None:
    """Refuse a user variable name MongoDB refuses (it must start with a lowercase letter)."""
    if not name or not (name[0].islower() or not name[0].isascii()):
        raise failure(16867, f"'{name}' starts with an invalid character for a user variable name")
