"""MongoDB query filters compiled once into plain Python predicates.

`compile_filter` turns a filter document into a function ``doc -> bool``. All parsing,
validation and type dispatch happens at compile time, so evaluating the predicate over
millions of documents costs a few dictionary lookups each.

A field condition is a `Condition`: how one operator judges the values a path reaches.
MongoDB tests a condition against each value at the path and, for most operators, against
each element of an array found there too; `$ne`, `$nin` and `$not` negate the whole result.
"""

import datetime
import functools
import operator
from collections.abc import Callable, Mapping
from typing import Any

from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.objectid import ObjectId
from pymongo.errors import OperationFailure

from tessera.store.query.bitwise import OPERATORS as BIT_OPERATORS
from tessera.store.query.bitwise import bit_test
from tessera.store.query.query_regex import compile_regex, is_regex, regex_test
from tessera.store.values.ordering import MAXKEY, MINKEY, NUMBER, sort_value, type_rank
from tessera.store.values.paths import MISSING, path_values, split_path

Matcher = Callable[[Any], bool]
BAD_VALUE = 2

_NAN_KEY = sort_value(float("nan"))
_FAST_NUMBER_TYPES = frozenset([int, float, Int64])
_COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}


_NO_QUERY_EXECUTION_PLANS = 291


def _fail(message: str, code: int = BAD_VALUE) -> OperationFailure:
    return OperationFailure(message, code, {"ok": 0, "errmsg": message, "code": code})


def _always(doc: Any) -> bool:
    return True


class Condition:
    """One operator's test on the values at a path.

    `one(value)` judges a single value reached by the path (expanding arrays when the
    operator does), `many(values)` all values reached through arrays of documents, and
    `element(value)` one array element for a value-form `$elemMatch`, without expansion.
    """

    __slots__ = ("element", "many", "one")

    def __init__(self, one: Matcher, many: Matcher, element: Matcher) -> None:
        self.one = one
        self.many = many
        self.element = element


def _condition(test: Matcher, *, expand: bool = True, negate: bool = False) -> Condition:
    one: Matcher
    if expand:

        def one(value: Any) -> bool:
            if test(value):
                return True
            if value.__class__ is list:
                for item in value:
                    if test(item):
                        return True
            return False

    else:
        one = test

    def many(values: list[Any]) -> bool:
        if len(values) == 1:
            return one(values[0])
        return any(one(value) for value in values)

    if not negate:
        return Condition(one, many, test)
    return Condition(
        lambda value: not one(value),
        lambda values: not many(values),
        lambda value: not test(value),
    )


def compile_filter(query: Mapping[str, Any] | None) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate telling whether a document matches the MongoDB filter `query`.

    Raises OperationFailure with MongoDB's error code for an unknown or malformed operator.
    """
    if not query:
        return _always
    if not isinstance(query, Mapping):
        raise _fail(f"filter must be a document, not {type(query).__name__}")
    return _all_of([_clause(key, value) for key, value in query.items()])


def _all_of(matchers: list[Matcher]) -> Matcher:
    matchers = [m for m in matchers if m is not _always]
    if not matchers:
        return _always
    if len(matchers) == 1:
        return matchers[0]
    if len(matchers) == 2:
        first, second = matchers
        return lambda doc: first(doc) and second(doc)
    return lambda doc: all(m(doc) for m in matchers)


def _any_of(matchers: list[Matcher]) -> Matcher:
    if len(matchers) == 1:
        return matchers[0]
    if len(matchers) == 2:
        first, second = matchers
        return lambda doc: first(doc) or second(doc)
    return lambda doc: any(m(doc) for m in matchers)


def _clause(key: str, value: Any) -> Matcher:
    if not key.startswith("$"):
        return _field_matcher(key, value)
    if key in ("$and", "$or", "$nor"):
        clauses = logical_list(key, value)
        if key == "$or" and any("$text" in sub for sub in clauses):
            raise _fail(
                "Failed to produce a solution for TEXT under OR: the embedded store answers "
                "$text only at the top level of a filter, or in a top-level $and",
                _NO_QUERY_EXECUTION_PLANS,
            )
        subs = [compile_filter(sub) for sub in clauses]
        if key == "$and":
            return _all_of(subs)
        either = _any_of(subs)
        if key == "$or":
            return either
        return lambda doc: not either(doc)
    if key == "$expr":
        return _expr_matcher(value)
    if key == "$comment":
        return _always
    if key == "$where":
        raise _fail("$where is not supported: use $expr to compare fields of a document")
    if key == "$text":
        raise _fail(
            "$text is only allowed at the top level of a query's filter, or of the first "
            "$match of a pipeline"
        )
    if key in ("$jsonSchema", "$sampleRate"):
        raise _fail(f"{key} is not supported by the embedded store")
    raise _fail(f"unknown top level operator: {key}")


def logical_list(key: str, value: Any) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not value:
        raise _fail(f"{key} argument must be a non-empty array")
    for sub in value:
        if not isinstance(sub, Mapping):
            raise _fail(f"{key} argument's entries must be objects")
    return value


def _expr_matcher(expression: Any) -> Matcher:
    # Imported here: the aggregation modules import this one.
    from tessera.store.aggregation.expressions import evaluate, truthy

    def match(doc: Any) -> bool:
        return truthy(evaluate(expression, doc))

    return match


# Operators whose evaluation runs a client's pattern or expression.
_EVALUATING = frozenset({"$regex", "$expr", "$where", "$function", "$accumulator"})


def evaluates(spec: Any) -> bool:
    """Whether matching with `spec`, a filter or a projection, may run a regular expression
    or an aggregation expression: such a read must not run on the event loop, where a
    slow one would stall every other request."""
    if isinstance(spec, Mapping):
        return any(key in _EVALUATING or evaluates(value) for key, value in spec.items())
    if isinstance(spec, list | tuple):
        return any(evaluates(item) for item in spec)
    return is_regex(spec)


def is_operator_document(value: Any) -> bool:
    """True when `value` is ``{"$op": ...}`` rather than a document to compare with."""
    if not isinstance(value, Mapping) or not value:
        return False
    first = next(iter(value))
    return first.startswith("$") and first not in ("$ref", "$id", "$db")


#: Operators of a whole document, not of one value: ``{"$and": [...]}`` in ``$elemMatch``
#: or ``$pull`` is a query on each element as a document.
_DOCUMENT_OPERATORS = frozenset({"$and", "$or", "$nor", "$expr", "$where", "$comment"})


def is_element_condition(value: Any) -> bool:
    """True when `value` is conditions on one value (``{"$gte": 6}``), false for a query on
    a document (``{"score": 8}``, ``{"$or": [...]}``)."""
    return is_operator_document(value) and not _DOCUMENT_OPERATORS & set(value)


def _field_matcher(path: str, spec: Any) -> Matcher:
    if not path:
        raise _fail("field names in a filter cannot be empty")
    return _path_matcher(split_path(path), field_conditions(spec))


def field_conditions(spec: Any) -> list[Condition]:
    """The conditions of one field's clause: its operators, or a value it must equal."""
    if is_operator_document(spec):
        return compile_conditions(spec)
    return [_equality(spec, implicit=True)]


def _path_matcher(parts: tuple[str, ...], conditions: list[Condition]) -> Matcher:
    if len(parts) == 1:
        key = parts[0]
        if len(conditions) == 1:
            one = conditions[0].one
            return lambda doc: one(doc.get(key, MISSING))
        ones = [c.one for c in conditions]

        def match_field(doc: Any) -> bool:
            value = doc.get(key, MISSING)
            return all(one(value) for one in ones)

        return match_field
    manys = [c.many for c in conditions]
    if len(manys) == 1:
        many = manys[0]
        return lambda doc: many(path_values(doc, parts))

    def match_path(doc: Any) -> bool:
        values = path_values(doc, parts)
        return all(many(values) for many in manys)

    return match_path


def compile_conditions(spec: Mapping[str, Any]) -> list[Condition]:
    """The conditions of an operator document such as ``{"$gt": 1, "$lt": 5}``."""
    if "$regex" in spec:
        regex = compile_regex(spec["$regex"], spec.get("$options"))
        conditions = [_condition(regex_test(regex))]
    elif "$options" in spec:
        raise _fail("$options needs a $regex")
    else:
        conditions = []
    for op, arg in spec.items():
        if op in ("$regex", "$options"):
            continue
        build = _OPERATORS.get(op)
        if build is None:
            if not op.startswith("$"):
                raise _fail(f"unknown operator: {op} (mixing operators and fields)")
            raise _fail(f"unknown operator: {op}")
        conditions.append(build(arg))
    return conditions


def _equality(target: Any, *, implicit: bool = False) -> Condition:
    if implicit and is_regex(target):
        return _condition(regex_test(compile_regex(target, None)))
    return _condition(equality_test(target))


def equality_test(target: Any) -> Matcher:
    """A test of one value for MongoDB equality with `target` (no array expansion)."""
    kind = target.__class__
    if kind is str:
        return lambda value: value.__class__ is str and value == target
    if kind in _FAST_NUMBER_TYPES and target == target:
        key = sort_value(target)

        def number_equals(value: Any) -> bool:
            if value.__class__ in _FAST_NUMBER_TYPES:
                return value == target
            return value.__class__ is Decimal128 and sort_value(value) == key

        return number_equals
    if target is None:
        return lambda value: value is None or value is MISSING
    if kind is ObjectId or kind is bool:
        return lambda value: value.__class__ is kind and value == target
    key = sort_value(target)
    return lambda value: value is not MISSING and sort_value(value) == key


def _comparison(op: str) -> Callable[[Any], Condition]:
    def build(target: Any) -> Condition:
        return _condition(_comparison_test(op, target))

    return build


def _comparison_test(op: str, target: Any) -> Matcher:
    rank = type_rank(target)
    key = sort_value(target)
    inclusive = op in ("$gte", "$lte")
    if key == _NAN_KEY:
        # NaN equals NaN and is neither above nor below any other value.
        if not inclusive:
            return lambda value: False
        return lambda value: type_rank(value) == NUMBER and sort_value(value) == _NAN_KEY
    across_types = rank in (MINKEY, MAXKEY)
    compare_op = _COMPARATORS[op]
    kind = target.__class__
    fast_types: frozenset[type] = frozenset()
    if kind is str:
        fast_types = frozenset([str])
    elif kind in _FAST_NUMBER_TYPES:
        fast_types = _FAST_NUMBER_TYPES
    elif kind is datetime.datetime and target.tzinfo is None:
        fast_types = frozenset([datetime.datetime])

    def test(value: Any) -> bool:
        # Python compares these directly as BSON does; aware datetimes take the slow path.
        if value.__class__ in fast_types and getattr(value, "tzinfo", None) is None:
            return compare_op(value, target)
        if not across_types and type_rank(value) != rank:
            return False
        value_key = sort_value(value)
        if value_key == _NAN_KEY:
            return False
        return compare_op(value_key, key)

    return test


def _in_test(values: Any, op: str) -> Matcher:
    if not isinstance(values, (list, tuple)):
        raise _fail(f"{op} needs an array")
    keys = set()
    strings = set()
    regexes = []
    for item in values:
        if is_regex(item):
            regexes.append(regex_test(compile_regex(item, None)))
        elif is_operator_document(item):
            raise _fail(f"cannot nest $ under {op}")
        elif item.__class__ is str:
            strings.add(item)
        else:
            keys.add(sort_value(item))
    has_null = sort_value(None) in keys

    def test(value: Any) -> bool:
        if value.__class__ is str:
            if value in strings:
                return True
        elif value is MISSING:
            return has_null
        elif sort_value(value) in keys:
            return True
        return bool(regexes) and any(regex(value) for regex in regexes)

    return test


def _exists(arg: Any) -> Condition:
    from tessera.store.aggregation.expressions import truthy

    return _condition(lambda value: value is not MISSING, expand=False, negate=not truthy(arg))


def _size(arg: Any) -> Condition:
    if type_rank(arg) != NUMBER or isinstance(arg, bool):
        raise _fail("$size needs a number")
    key = sort_value(arg)
    if key == _NAN_KEY or key[2] != int(key[2]):
        raise _fail("$size must be a whole number")
    size = int(key[2])
    if size < 0:
        raise _fail("$size may not be negative")
    return _condition(lambda value: value.__class__ is list and len(value) == size, expand=False)


def _mod(arg: Any) -> Condition:
    if not isinstance(arg, list):
        raise _fail("malformed mod, needs to be an array")
    if len(arg) < 2:
        raise _fail("malformed mod, not enough elements")
    if len(arg) > 2:
        raise _fail("malformed mod, too many elements")
    divisor, remainder = (_whole(x) for x in arg)
    if divisor == 0:
        raise _fail("divisor cannot be 0")

    def test(value: Any) -> bool:
        if type_rank(value) != NUMBER or sort_value(value) == _NAN_KEY:
            return False
        number = sort_value(value)[2]
        if number in (float("inf"), float("-inf")):
            return False
        dividend = int(number)
        # MongoDB truncates toward zero, as C does, and so keeps the dividend's sign.
        result = abs(dividend) % abs(divisor)
        return (result if dividend >= 0 else -result) == remainder

    return _condition(test)


def _whole(value: Any) -> int:
    if type_rank(value) != NUMBER or isinstance(value, bool):
        raise _fail("malformed mod, divisor and remainder must be numbers")
    key = sort_value(value)
    if key == _NAN_KEY or key[2] in (float("inf"), float("-inf")):
        raise _fail("malformed mod, divisor and remainder must be finite numbers")
    return int(key[2])


def _all(arg: Any) -> Condition:
    if not isinstance(arg, list):
        raise _fail("$all needs an array")
    if not arg:
        return _condition(lambda value: False, expand=False)
    if all(isinstance(x, Mapping) and "$elemMatch" in x for x in arg):
        parts = [_elem_match(x["$elemMatch"]) for x in arg]
    elif any(is_operator_document(x) for x in arg):
        raise _fail("no $ expressions in $all")
    else:
        parts = [_equality(x, implicit=True) for x in arg]
    return _conjunction(parts)


def _conjunction(conditions: list[Condition]) -> Condition:
    return Condition(
        lambda value: all(c.one(value) for c in conditions),
        lambda values: all(c.many(values) for c in conditions),
        lambda value: all(c.element(value) for c in conditions),
    )


def _not(arg: Any) -> Condition:
    if is_regex(arg):
        inner = [_condition(regex_test(compile_regex(arg, None)))]
    elif isinstance(arg, Mapping):
        if not arg:
            raise _fail("$not cannot be empty")
        if not is_operator_document(arg):
            raise _fail("$not needs a regex or a document of operators")
        inner = compile_conditions(arg)
    else:
        raise _fail("$not needs a regex or a document")
    both = _conjunction(inner)
    return Condition(
        lambda value: not both.one(value),
        lambda values: not both.many(values),
        lambda value: not both.element(value),
    )


def _elem_match(arg: Any) -> Condition:
    if not isinstance(arg, Mapping):
        raise _fail("$elemMatch needs an Object")
    if is_element_condition(arg):
        conditions = compile_conditions(arg)

        def element_matches(item: Any) -> bool:
            return all(c.element(item) for c in conditions)

    else:
        sub = compile_filter(arg)

        def element_matches(item: Any) -> bool:
            return isinstance(item, Mapping) and sub(item)

    def test(value: Any) -> bool:
        if value.__class__ is not list:
            return False
        return any(element_matches(item) for item in value)

    return _condition(test, expand=False)


_TYPE_CODES = {
    1: "double",
    2: "string",
    3: "object",
    4: "array",
    5: "binData",
    6: "undefined",
    7: "objectId",
    8: "bool",
    9: "date",
    10: "null",
    11: "regex",
    12: "dbPointer",
    13: "javascript",
    14: "symbol",
    15: "javascriptWithScope",
    16: "int",
    17: "timestamp",
    18: "long",
    19: "decimal",
    -1: "minKey",
    127: "maxKey",
}
_TYPE_ALIASES = {name: {name} for name in _TYPE_CODES.values()} | {
    "number": {"double", "int", "long", "decimal"}
}


def _type(arg: Any) -> Condition:
    from tessera.store.aggregation.expressions import type_name

    wanted: set[str] = set()
    for item in arg if isinstance(arg, list) else [arg]:
        if isinstance(item, str):
            if item not in _TYPE_ALIASES:
                raise _fail(f"Unknown type name alias: {item}")
            wanted |= _TYPE_ALIASES[item]
        elif type_rank(item) == NUMBER and not isinstance(item, bool):
            key = sort_value(item)
            code = key[2] if key != _NAN_KEY else None
            if code not in _TYPE_CODES:
                raise _fail(f"Invalid numerical type code: {item}")
            wanted.add(_TYPE_CODES[int(code)])
        else:
            raise _fail(f"type must be represented as a number or a string, not {item!r}")
    if not wanted:
        raise _fail("$type must match at least one type")
    return _condition(lambda value: value is not MISSING and type_name(value) in wanted)


def _eq(arg: Any) -> Condition:
    return _equality(arg)


_OPERATORS: dict[str, Callable[[Any], Condition]] = {
    "$eq": _eq,
    "$ne": lambda arg: _condition(equality_test(arg), negate=True),
    "$gt": _comparison("$gt"),
    "$gte": _comparison("$gte"),
    "$lt": _comparison("$lt"),
    "$lte": _comparison("$lte"),
    "$in": lambda arg: _condition(_in_test(arg, "$in")),
    "$nin": lambda arg: _condition(_in_test(arg, "$nin"), negate=True),
    "$exists": _exists,
    "$type": _type,
    "$size": _size,
    "$mod": _mod,
    "$all": _all,
    "$not": _not,
    "$elemMatch": _elem_match,
}
for _name in BIT_OPERATORS:
    _OPERATORS[_name] = functools.partial(lambda name, arg: _condition(bit_test(name, arg)), _name)
