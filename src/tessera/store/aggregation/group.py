"""`$group` and `$bucket`: documents folded into one per key by accumulators.

`accumulator` turns one output field's spec into what to read from each document and
how to fold the readings; `$setWindowFields` folds windows with the same accumulators.
"""

from collections.abc import Callable, Mapping
from typing import Any

from tessera.store.aggregation.expressions import (
    Evaluator,
    average,
    check_field_name,
    compile_expression,
    evaluate,
    extreme,
    failure,
    merge_documents,
    positive_n,
    std_dev,
    sum_numbers,
)
from tessera.store.aggregation.pipeline import Documents, Run
from tessera.store.bounds.deadlines import checked
from tessera.store.bounds.limits import (
    ACCUMULATOR_BYTES,
    BLOCKING_BYTES,
    accumulator_error,
    approximate_size,
    group_error,
)
from tessera.store.query.sorting import normalize_sort, sort_key
from tessera.store.values.ordering import hash_key, sort_value
from tessera.store.values.paths import MISSING


def _first(values: list[Any]) -> Any:
    return None if not values or values[0] is MISSING else values[0]


def _last(values: list[Any]) -> Any:
    return None if not values or values[-1] is MISSING else values[-1]


def _add_to_set(values: list[Any]) -> list[Any]:
    distinct: dict[Any, Any] = {}
    for value in values:
        if value is not MISSING:
            distinct.setdefault(hash_key(value), value)
    return list(distinct.values())


# Each accumulator folds the list of values its expression took over a group's documents.
_ACCUMULATORS: dict[str, Callable[[list[Any]], Any]] = {
    "$sum": sum_numbers,
    "$avg": average,
    "$min": lambda values: extreme(values, -1),
    "$max": lambda values: extreme(values, 1),
    "$first": _first,
    "$last": _last,
    "$push": lambda values: [v for v in values if v is not MISSING],
    "$addToSet": _add_to_set,
    "$count": len,
    "$mergeObjects": merge_documents,
    "$stdDevPop": lambda values: std_dev(values, sample=False),
    "$stdDevSamp": lambda values: std_dev(values, sample=True),
}


_Fold = Callable[[list[Any]], Any]


def accumulator(field: str, spec: Any) -> tuple[Evaluator, _Fold]:
    """What an accumulator reads from each document, and how it folds a group's readings."""
    if "." in field:
        raise failure(40235, f"The field name '{field}' cannot contain '.'")
    check_field_name(field)
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise failure(40234, f"The field '{field}' must be an accumulator object")
    ((name, expr),) = spec.items()
    if name in _SORTED_ACCUMULATORS:
        return _sorted_accumulator(name, expr)
    if name in _N_ACCUMULATORS:
        args = _accumulator_args(name, expr, ("input", "n"))
        count = positive_n(evaluate(args["n"], {}))
        fold = _N_ACCUMULATORS[name]
        return compile_expression(args["input"]), lambda values: fold(values, count)
    if name not in _ACCUMULATORS:
        raise failure(15952, f"unknown group operator '{name}'")
    if isinstance(expr, list):
        raise failure(40237, f"The {name} accumulator is a unary operator")
    if name == "$count":
        if expr != {}:
            raise failure(2, "$count takes no arguments, i.e. $count:{}")
        expr = 1
    return compile_expression(expr), _ACCUMULATORS[name]


def _accumulator_args(name: str, spec: Any, keys: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(spec, Mapping) or set(spec) != set(keys):
        raise failure(5787901, f"{name} needs exactly the fields {', '.join(keys)}")
    return spec


def _nulls(values: list[Any]) -> list[Any]:
    return [None if v is MISSING else v for v in values]


def _extremes(values: list[Any], n: int, descending: bool) -> list[Any]:
    present = [v for v in values if v is not MISSING and v is not None]
    return sorted(present, key=sort_value, reverse=descending)[:n]


# The N accumulators (MongoDB 5.2): nulls count for first/last, not for min/max.
_N_ACCUMULATORS: dict[str, Callable[[list[Any], int], Any]] = {
    "$firstN": lambda values, n: _nulls(values[:n]),
    "$lastN": lambda values, n: _nulls(values[-n:]),
    "$maxN": lambda values, n: _extremes(values, n, descending=True),
    "$minN": lambda values, n: _extremes(values, n, descending=False),
}
_SORTED_ACCUMULATORS = ("$top", "$bottom", "$topN", "$bottomN")


def _sorted_accumulator(name: str, spec: Any) -> tuple[Evaluator, _Fold]:
    """`$top`/`$bottom`(`N`): the output of the first or last documents in `sortBy` order."""
    many = name.endswith("N")
    args = _accumulator_args(
        name, spec, ("sortBy", "output", "n") if many else ("sortBy", "output")
    )
    if not isinstance(args["sortBy"], Mapping):
        raise failure(5788604, f"{name} requires 'sortBy' to be an object")
    key = sort_key(normalize_sort(args["sortBy"]))
    output = compile_expression(args["output"])
    count = positive_n(evaluate(args["n"], {})) if many else 1

    def read(doc: Mapping[str, Any], variables: Mapping[str, Any] | None) -> Any:
        return key(doc), output(doc, variables)

    def fold(pairs: list[Any]) -> Any:
        ordered = [out for _, out in sorted(pairs, key=lambda pair: pair[0])]
        chosen = _nulls(ordered[:count] if name.startswith("$top") else ordered[-count:])
        return chosen if many else (chosen[0] if chosen else None)

    return read, fold


def group_stage(docs: Documents, arg: Any, run: Run) -> Documents:
    """`$group`: one document per distinct `_id` value, its fields the accumulators' folds."""
    return _group(docs, arg, run, None)


def _group(docs: Documents, arg: Any, run: Run, memory: "_Memory | None") -> Documents:
    if not isinstance(arg, Mapping):
        raise failure(15947, "a group's fields must be specified in an object")
    if "_id" not in arg:
        raise failure(15955, "a group specification must include an _id")
    accumulators = {f: accumulator(f, spec) for f, spec in arg.items() if f != "_id"}
    group_key = compile_expression(arg["_id"])
    variables = run.variables
    memory = memory or _Memory()
    kept = _kept_fields(arg, run)
    groups: dict[Any, tuple[Any, dict[str, list[Any]]]] = {}
    for doc in checked(docs):
        key = group_key(doc, variables)
        if key is MISSING:
            key = None
        hashed = hash_key(key)
        if hashed not in groups:
            groups[hashed] = (key, {f: [] for f in accumulators})
            memory.add_group(key, len(accumulators))
        readings = groups[hashed][1]
        for field, (read, _) in accumulators.items():
            value = read(doc, variables)
            if field not in kept or memory.keep(hashed, field, kept[field], value):
                readings[field].append(value)
    run.footprint.forget()
    return [
        {"_id": key, **{f: accumulators[f][1](values) for f, values in readings.items()}}
        for key, readings in groups.values()
    ]


def _kept_fields(arg: Mapping[str, Any], run: Run) -> dict[str, str]:
    """The fields whose accumulator keeps every value ($push, $addToSet), by accumulator
    name; none when their values are parts of stored documents of fewer bytes than the
    limit, which then cannot be reached."""
    kept = {
        field: next(iter(spec))
        for field, spec in arg.items()
        if field != "_id" and isinstance(spec, Mapping) and next(iter(spec), None) in _KEEPING
    }
    stored = run.footprint.stored
    if stored is not None and stored < ACCUMULATOR_BYTES:
        parts = all(_is_path(arg[field][name]) for field, name in kept.items())
        if parts:
            return {}
    return kept


def _is_path(expr: Any) -> bool:
    return isinstance(expr, str) and expr.startswith("$")


_KEEPING = ("$push", "$addToSet")
_STATE_BYTES = 64  # an accumulator's own state in a group, as MongoDB reckons it


class _Memory:
    """The memory a `$group` holds as MongoDB reckons it: each group's key and the
    accumulators' states, with the values `$push` and `$addToSet` keep. Past
    `BLOCKING_BYTES` in all, or `ACCUMULATOR_BYTES` in one accumulator, the group fails."""

    __slots__ = ("distinct", "kept", "total")

    def __init__(self) -> None:
        self.total = 0
        self.kept: dict[tuple[Any, str], int] = {}
        self.distinct: dict[tuple[Any, str], set[Any]] = {}

    def add_group(self, key: Any, accumulators: int) -> None:
        self._charge(approximate_size(key) + _STATE_BYTES * accumulators)

    def keep(self, group: Any, field: str, name: str, value: Any) -> bool:
        """Charge a value an accumulator keeps; False for one `$addToSet` holds already."""
        if value is MISSING:
            return True
        slot = (group, field)
        if name == "$addToSet":
            seen = self.distinct.setdefault(slot, set())
            marker = hash_key(value)
            if marker in seen:
                return False
            seen.add(marker)
        size = approximate_size(value)
        used = self.kept[slot] = self.kept.get(slot, 0) + size
        if used >= ACCUMULATOR_BYTES:
            raise accumulator_error(name, used)
        self._charge(size)
        return True

    def _charge(self, size: int) -> None:
        self.total += size
        if self.total > BLOCKING_BYTES:
            raise group_error()


def bucket_stage(docs: Documents, arg: Any, run: Run) -> Documents:
    """`$bucket`: `$group` over the ranges between consecutive `boundaries`."""
    if not isinstance(arg, Mapping) or "groupBy" not in arg or "boundaries" not in arg:
        raise failure(40198, "$bucket requires 'groupBy' and 'boundaries' to be specified.")
    boundaries = arg["boundaries"]
    if not isinstance(boundaries, list) or len(boundaries) < 2:
        raise failure(40192, "The $bucket 'boundaries' field must have at least 2 values")
    keys = [sort_value(b) for b in boundaries]
    if keys != sorted(keys) or len(set(keys)) != len(keys):
        raise failure(40194, "The 'boundaries' option to $bucket must be sorted in ascending order")
    output = arg.get("output") or {"count": {"$sum": 1}}
    memory = _Memory()  # one $group, as MongoDB runs $bucket
    buckets: dict[int, Documents] = {}
    for doc in checked(docs):
        value = run.evaluate(arg["groupBy"], doc)
        key = sort_value(None if value is MISSING else value)
        index = next((i for i in range(len(keys) - 1) if keys[i] <= key < keys[i + 1]), -1)
        if index < 0 and "default" not in arg:
            raise failure(
                40066,
                "$switch could not find a matching branch for an input, and no default was "
                f"specified. ($bucket value {value!r} is outside the boundaries)",
            )
        buckets.setdefault(index, []).append(doc)
    out = []
    for index in [*range(len(keys) - 1), -1]:
        if index in buckets:
            bucket_id = boundaries[index] if index >= 0 else arg["default"]
            spec = {"_id": {"$literal": bucket_id}, **output}
            (result,) = _group(buckets[index], spec, run, memory)
            out.append(result)
    return out
