"""Array operators, the `$firstN` family, and the set operators (arrays as sets under
MongoDB equality)."""

from collections.abc import Callable, Mapping
from typing import Any

from pymongo.errors import OperationFailure

from tessera.store.aggregation.expressions.core import (
    Scope,
    check_variable_name,
    compare_values,
    failure,
    integer_arg,
    is_number,
    named_args,
    nullish,
    operator,
    or_null,
    special,
    to_python_number,
    truthy,
    type_name,
)
from tessera.store.aggregation.expressions.strings import search_range
from tessera.store.bounds.deadlines import checked
from tessera.store.bounds.limits import (
    RANGE_BYTES,
    check_keyed,
    check_made_array,
    range_error,
)
from tessera.store.query.sorting import normalize_sort, sort_key
from tessera.store.values.ordering import hash_key, sort_value
from tessera.store.values.paths import MISSING

# sizeof(std::vector<Value>) and sizeof(Value) in MongoDB's estimate of a $range.
_VECTOR_BYTES = 24
_VALUE_BYTES = 16


def _array_or_null(name: str, value: Any, code: int, what: str = "argument") -> list[Any] | None:
    if nullish(value):
        return None
    if not isinstance(value, list):
        raise failure(code, f"{name}'s {what} must be an array, but is {type_name(value)}")
    return value


@operator("$size", 1)
def _size(value: Any) -> int:
    if not isinstance(value, list):
        raise failure(
            17124,
            f"The argument to $size must be an array. Type of the argument was: {type_name(value)}",
        )
    return len(value)


@operator("$isArray", 1)
def _is_array(value: Any) -> bool:
    return isinstance(value, list)


def _element_at(array: list[Any], index: int) -> Any:
    if -len(array) <= index < len(array):
        return array[index]
    return MISSING


@operator("$arrayElemAt", 2)
def _array_elem_at(array: Any, index: Any) -> Any:
    if nullish(array) or nullish(index):
        return None
    array = _array_or_null("$arrayElemAt", array, 28689, "first argument")
    if not is_number(index):
        raise failure(
            28690,
            f"$arrayElemAt's second argument must be a numeric value, but is {type_name(index)}",
        )
    position = to_python_number(index)
    if position != int(position):
        raise failure(
            28691,
            f"$arrayElemAt's second argument must be representable as a 32-bit integer: {position}",
        )
    assert array is not None
    return _element_at(array, int(position))


@operator("$first", 1)
def _first(value: Any) -> Any:
    array = _array_or_null("$first", value, 28689)
    return None if array is None else _element_at(array, 0)


@operator("$last", 1)
def _last(value: Any) -> Any:
    array = _array_or_null("$last", value, 28689)
    return None if array is None else _element_at(array, -1)


@operator("$in", 2)
def _in(value: Any, array: Any) -> bool:
    if not isinstance(array, list):
        raise failure(
            40081, f"$in requires an array as a second argument, found: {type_name(array)}"
        )
    return any(compare_values(value, element) == 0 for element in array)


@operator("$indexOfArray", (2, 4))
def _index_of_array(array: Any, value: Any, *bounds: Any) -> Any:
    if nullish(array):
        return None
    if not isinstance(array, list):
        raise failure(
            40090, f"$indexOfArray requires an array as a first argument, found: {type_name(array)}"
        )
    start, end = search_range("$indexOfArray", bounds, len(array))
    for i in range(start, min(end, len(array))):
        if compare_values(array[i], value) == 0:
            return i
    return -1


@operator("$concatArrays")
def _concat_arrays(*values: Any) -> Any:
    if any(nullish(v) for v in values):
        return None
    out: list[Any] = []
    for v in values:
        if not isinstance(v, list):
            raise failure(28664, f"$concatArrays only supports arrays, not {type_name(v)}")
    check_made_array("$concatArrays", sum(map(len, values)))
    for v in values:
        out.extend(v)
    return out


@operator("$reverseArray", 1)
def _reverse_array(value: Any) -> Any:
    if nullish(value):
        return None
    if not isinstance(value, list):
        raise failure(
            34435,
            f"The argument to $reverseArray must be an array, but was of type: {type_name(value)}",
        )
    return value[::-1]


@operator("$slice", (2, 3))
def _slice(array: Any, *numbers: Any) -> Any:
    if nullish(array) or any(nullish(n) for n in numbers):
        return None
    if not isinstance(array, list):
        raise failure(
            28724, f"First argument to $slice must be an array, but is of type: {type_name(array)}"
        )
    counts = [integer_arg("$slice", "argument", n, 28725) for n in numbers]
    if len(counts) == 1:
        (n,) = counts
        return array[:n] if n >= 0 else array[max(len(array) + n, 0) :]
    position, n = counts
    if n <= 0:
        raise failure(28729, f"Third argument to $slice must be positive: {n}")
    start = position if position >= 0 else max(len(array) + position, 0)
    return array[start : start + n]


@operator("$range", (2, 3))
def _range(start: Any, end: Any, step: Any = 1) -> list[int]:
    first = integer_arg("$range", "starting value", start, 34443)
    last = integer_arg("$range", "ending value", end, 34445)
    increment = integer_arg("$range", "step value", step, 34447)
    if increment == 0:
        raise failure(34449, "$range requires a non-zero step value")
    needed = _range_bytes(first, last, increment)
    if needed >= RANGE_BYTES:
        raise range_error(needed)
    return list(range(first, last, increment))


def _range_bytes(first: int, last: int, step: int) -> int:
    """The memory MongoDB reckons a $range needs (a 24-byte vector and 16 bytes a value),
    with its length rounded as C++ divides: up to one more than the array holds."""
    span = last - first
    steps = abs(span) // abs(step) * (1 if (span >= 0) == (step > 0) else -1)
    return _VECTOR_BYTES + (steps + 1 if steps >= 0 else 0) * _VALUE_BYTES


def _item_scope(name: str, spec: Mapping[str, Any], scope: Scope) -> tuple[list[Any] | None, str]:
    array = scope.eval(spec["input"])
    alias = spec.get("as", "this")
    if not isinstance(alias, str):
        raise failure(16866, f"{name}: 'as' must be a string")
    check_variable_name(alias)
    if nullish(array):
        return None, alias
    if not isinstance(array, list):
        code = {"$map": 16883, "$filter": 28651}[name]
        raise failure(code, f"input to {name} must be an array not {type_name(array)}")
    return array, alias


@special("$map")
def _map(raw: Any, scope: Scope) -> Any:
    spec = named_args("$map", raw, ("input", "in"), ("as",))
    array, alias = _item_scope("$map", spec, scope)
    if array is None:
        return None
    # Each element may cost much (the expression is the caller's): timed one by one.
    return [or_null(scope.bind(**{alias: item}).eval(spec["in"])) for item in checked(array)]


@special("$filter")
def _filter(raw: Any, scope: Scope) -> Any:
    spec = named_args("$filter", raw, ("input", "cond"), ("as", "limit"))
    array, alias = _item_scope("$filter", spec, scope)
    limit = scope.eval(spec["limit"]) if "limit" in spec else None
    if array is None:
        return None
    if limit is not None:
        limit = integer_arg("$filter", "limit", limit, 327391)
        if limit < 1:
            raise failure(327392, f"$filter: limit must be greater than 0: {limit}")
    out = []
    for item in checked(array):
        if truthy(scope.bind(**{alias: item}).eval(spec["cond"])):
            out.append(item)
            if limit is not None and len(out) == limit:
                break
    return out


@special("$reduce")
def _reduce(raw: Any, scope: Scope) -> Any:
    spec = named_args("$reduce", raw, ("input", "initialValue", "in"))
    array = scope.eval(spec["input"])
    if nullish(array):
        return None
    if not isinstance(array, list):
        raise failure(
            40080, f"$reduce requires that 'input' be an array, found: {type_name(array)}"
        )
    value = scope.eval(spec["initialValue"])
    for item in checked(array):
        value = scope.bind(value=value, this=item).eval(spec["in"])
    return value


@special("$zip")
def _zip_arrays(raw: Any, scope: Scope) -> Any:
    spec = named_args("$zip", raw, ("inputs",), ("useLongestLength", "defaults"))
    arrays = scope.eval(spec["inputs"])
    if not isinstance(arrays, list):
        raise failure(34461, "inputs must be an array of expressions")
    if any(nullish(a) for a in arrays):
        return None
    for a in arrays:
        if not isinstance(a, list):
            raise failure(34468, f"$zip found a non-array expression in input: {type_name(a)}")
    longest = bool(spec.get("useLongestLength", False))
    defaults = scope.eval(spec["defaults"]) if "defaults" in spec else [None] * len(arrays)
    size = max(map(len, arrays), default=0) if longest else min(map(len, arrays), default=0)
    check_made_array("$zip", size * (len(arrays) + 1))  # its rows, and their items
    return [
        [a[i] if i < len(a) else defaults[j] for j, a in enumerate(arrays)] for i in range(size)
    ]


def _n_of_array(name: str, pick: Callable[[list[Any], int], list[Any]]) -> None:
    @special(name)
    def op(raw: Any, scope: Scope) -> Any:
        spec = named_args(name, raw, ("n", "input"))
        n = positive_n(scope.eval(spec["n"]))
        array = scope.eval(spec["input"])
        if nullish(array):
            return None
        if not isinstance(array, list):
            raise failure(5788200, f"Input to {name} must be an array, found {type_name(array)}")
        return pick(array, n)


def positive_n(value: Any) -> int:
    """The `n` of the ``$firstN`` family: a positive integer, or an OperationFailure."""
    if not is_number(value) or to_python_number(value) != int(to_python_number(value)):
        raise failure(5787902, f"Value for 'n' must be of integral type, but found {value!r}")
    if value < 1:
        raise failure(5787908, f"'n' must be greater than 0, found {value}")
    return int(value)


def _ordered(array: list[Any], descending: bool) -> list[Any]:
    present = [v for v in array if not nullish(v)]
    return sorted(present, key=sort_value, reverse=descending)


_n_of_array("$firstN", lambda array, n: array[:n])
_n_of_array("$lastN", lambda array, n: array[-n:])
_n_of_array("$maxN", lambda array, n: _ordered(array, descending=True)[:n])
_n_of_array("$minN", lambda array, n: _ordered(array, descending=False)[:n])


# Set operators treat arrays as sets under MongoDB equality.


def _set_arrays(name: str, values: tuple[Any, ...], code: int) -> list[list[Any]] | None:
    if any(nullish(v) for v in values):
        return None
    for v in values:
        if not isinstance(v, list):
            raise failure(
                code,
                f"All operands of {name} must be arrays. One argument is of type: {type_name(v)}",
            )
    check_keyed(name, list(values))
    return list(values)


def _distinct(values: list[Any]) -> list[Any]:
    seen: dict[Any, Any] = {}
    for v in values:
        seen.setdefault(hash_key(v), v)
    return list(seen.values())


@operator("$setUnion")
def _set_union(*values: Any) -> Any:
    arrays = _set_arrays("$setUnion", values, 17043)
    return None if arrays is None else _distinct([v for a in arrays for v in a])


@operator("$setIntersection")
def _set_intersection(*values: Any) -> Any:
    arrays = _set_arrays("$setIntersection", values, 17047)
    if arrays is None:
        return None
    if not arrays:
        return []
    keys = [{hash_key(v) for v in a} for a in arrays[1:]]
    return [v for v in _distinct(arrays[0]) if all(hash_key(v) in k for k in keys)]


@operator("$setDifference", 2)
def _set_difference(a: Any, b: Any) -> Any:
    arrays = _set_arrays("$setDifference", (a, b), 17048)
    if arrays is None:
        return None
    removed = {hash_key(v) for v in arrays[1]}
    return [v for v in _distinct(arrays[0]) if hash_key(v) not in removed]


@operator("$setEquals")
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
    check_keyed("$setEquals", list(values))
    keys = [{hash_key(v) for v in a} for a in values]
    return all(k == keys[0] for k in keys)


@operator("$setIsSubset", 2)
def _set_is_subset(a: Any, b: Any) -> bool:
    for v, code in ((a, 17046), (b, 17042)):
        if not isinstance(v, list):
            raise failure(
                code,
                "both operands of $setIsSubset must be arrays. "
                f"Argument is of type: {type_name(v)}",
            )
    check_keyed("$setIsSubset", [a, b])
    return {hash_key(v) for v in a} <= {hash_key(v) for v in b}


@operator("$allElementsTrue", 1)
def _all_elements_true(value: Any) -> bool:
    if not isinstance(value, list):
        raise failure(
            17040, f"$allElementsTrue's argument must be an array, but is {type_name(value)}"
        )
    return all(truthy(v) for v in value)


@operator("$anyElementTrue", 1)
def _any_element_true(value: Any) -> bool:
    if not isinstance(value, list):
        raise failure(
            17041, f"$anyElementTrue's argument must be an array, but is {type_name(value)}"
        )
    return any(truthy(v) for v in value)


@special("$sortArray")
def _sort_array(raw: Any, scope: Scope) -> Any:
    spec = named_args("$sortArray", raw, ("input", "sortBy"))
    array = scope.eval(spec["input"])
    order, descending = _array_order(spec["sortBy"])
    if nullish(array):
        return None
    if not isinstance(array, list):
        raise failure(
            2,
            "The input argument to $sortArray must be an array, but was of type: "
            f"{type_name(array)}",
        )
    check_keyed("$sortArray", array)
    # Stable both ways: equal elements keep their order (Python's reverse keeps it too).
    return sorted(array, key=order, reverse=descending)


def _array_order(sort_by: Any) -> tuple[Callable[[Any], Any], bool]:
    """How `$sortArray` orders elements: whole values in BSON order (1 or -1), or
    documents by a sort pattern (a non-document element sorts as one with no fields)."""
    if sort_by in (1, -1) and not isinstance(sort_by, bool):
        return sort_value, sort_by == -1
    if isinstance(sort_by, Mapping) and sort_by:
        try:
            by_fields = sort_key(normalize_sort(sort_by))
        except OperationFailure as exc:  # MongoDB answers BadValue for a bad pattern
            raise failure(2, f"$sortArray: invalid sortBy pattern {dict(sort_by)!r}") from exc
        return (lambda item: by_fields(item if isinstance(item, Mapping) else {})), False
    raise failure(2, f"$sortArray: sortBy must be 1, -1 or a sort pattern, not {sort_by!r}")
