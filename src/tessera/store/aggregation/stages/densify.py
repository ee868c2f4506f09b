"""`$densify`: add documents where a sequence of numbers or dates has gaps.

As in MongoDB, the documents are sorted by the partition fields and the field (by the field
only for ``bounds: "full"``); each partition's gaps are filled on a grid of steps counted
from the lower bound (the smallest value seen, or the explicit one), values already present
are not generated again, and a generated document holds only the field and the partition
fields. Documents whose field is missing or null pass through untouched.
"""

import datetime
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from tessera.store.aggregation.expressions import evaluate, failure, is_number, type_name
from tessera.store.aggregation.pipeline import Documents, Run, sort_spec_key, with_value
from tessera.store.bounds.deadlines import checked
from tessera.store.values.ordering import compare, hash_key, sort_value
from tessera.store.values.paths import MISSING, split_path

# MongoDB's internalQueryMaxAllowedDensifyDocs: a stage never generates more than this.
MAX_GENERATED = 500_000
_UNITS = ("millisecond", "second", "minute", "hour", "day", "week", "month", "quarter", "year")


@dataclass(frozen=True)
class _Spec:
    field: tuple[str, ...]
    partitions: list[tuple[str, ...]]
    step: Any
    unit: str | None
    bounds: Any  # "full", "partition" or a (lower, upper) pair


def densify_stage(docs: Documents, arg: Any, run: Run) -> Documents:
    """`docs` sorted as MongoDB sorts them for `$densify`, with the missing steps added."""
    spec = _parse(arg)
    names = [".".join(p) for p in spec.partitions]
    keys = [] if spec.bounds == "full" else names
    order = sort_spec_key({**{name: 1 for name in keys}, ".".join(spec.field): 1})
    ordered = sorted(checked(docs), key=order)
    partitions: dict[Hashable, tuple[list[Any], list[Any]]] = {}
    for doc in ordered:
        value = _get(doc, spec.field)
        if value is MISSING or value is None:
            continue
        _check_value(value, spec)
        parts = [_get(doc, p) for p in spec.partitions]
        key = tuple(hash_key(None if v is MISSING else v) for v in parts)
        partitions.setdefault(key, (parts, []))[1].append(value)
    if not partitions and isinstance(spec.bounds, tuple) and not spec.partitions:
        partitions[()] = ([], [])  # an explicit range is filled even with nothing to go on
    created = _generate(spec, list(partitions.values()))
    return sorted([*ordered, *created], key=order) if created else ordered


def _generate(spec: _Spec, partitions: list[tuple[list[Any], list[Any]]]) -> Documents:
    every = [v for _, values in partitions for v in values]
    created: Documents = []
    for parts, values in partitions:
        if spec.bounds == "full":
            low, high, inclusive = min(every, key=sort_value), max(every, key=sort_value), True
        elif spec.bounds == "partition":
            low, high, inclusive = values[0], values[-1], True
        else:
            (low, high), inclusive = spec.bounds, False
        present = {hash_key(v) for v in values}
        for value in _steps(low, high, inclusive, spec):
            if hash_key(value) not in present:
                created.append(_new_document(spec, parts, value))
                if len(created) > MAX_GENERATED:
                    raise failure(
                        5897900,
                        f"Generated {len(created)} documents in $densify, which is over the "
                        f"limit of {MAX_GENERATED}",
                    )
    return created


def _steps(low: Any, high: Any, inclusive: bool, spec: _Spec) -> Any:
    value = low
    while (order := compare(value, high)) < 0 or (inclusive and order == 0):
        yield value
        value = _increment(value, spec)


def _increment(value: Any, spec: _Spec) -> Any:
    if spec.unit is None:
        return evaluate({"$add": [{"$literal": value}, {"$literal": spec.step}]}, {})
    spec_add = {"startDate": {"$literal": value}, "unit": spec.unit, "amount": spec.step}
    return evaluate({"$dateAdd": spec_add}, {})


def _new_document(spec: _Spec, parts: list[Any], value: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for path, part in zip(spec.partitions, parts, strict=True):
        if part is not MISSING:
            doc = with_value(doc, list(path), part)
    return with_value(doc, list(spec.field), value)


def _get(doc: Any, parts: tuple[str, ...]) -> Any:
    for part in parts:
        if not isinstance(doc, Mapping):
            return MISSING
        doc = doc.get(part, MISSING)
    return doc


def _check_value(value: Any, spec: _Spec) -> None:
    if isinstance(value, datetime.datetime):
        if spec.unit is None:
            raise failure(6053600, "Encountered date value in $densify with a numeric step")
    elif is_number(value):
        if spec.unit is not None:
            raise failure(6053600, "Encountered numeric value in $densify with a date step")
    else:
        raise failure(5733201, "Densify field type must be numeric or a date")


def _parse(arg: Any) -> _Spec:
    if not isinstance(arg, Mapping):
        raise failure(
            9, f"The $densify stage specification must be an object, found {type_name(arg)}"
        )
    _fields("$densify", arg, ("field", "range"), ("partitionByFields",))
    field = _path("field", arg["field"])
    partitions = arg.get("partitionByFields", [])
    if not isinstance(partitions, list):
        raise failure(14, "BSON field '$densify.partitionByFields' must be an array")
    paths = [_path("partitionByFields", p) for p in partitions]
    step, unit, bounds = _range(arg["range"])
    if bounds == "partition" and not paths:
        raise failure(
            5733408,
            "One cannot specify the bounds as 'partition' without specifying a non-empty "
            "array of partitionByFields. You may have meant to specify 'full' bounds.",
        )
    return _Spec(field, paths, step, unit, bounds)


def _range(spec: Any) -> tuple[Any, str | None, Any]:
    if not isinstance(spec, Mapping):
        raise failure(14, "BSON field '$densify.range' must be an object")
    _fields("$densify.range", spec, ("step", "bounds"), ("unit",))
    step, unit = spec["step"], spec.get("unit")
    if not is_number(step) or compare(step, 0) <= 0:
        raise failure(
            5733401,
            "The step parameter in a range statement must be a strictly positive numeric value",
        )
    if unit is not None:
        if unit not in _UNITS:
            raise failure(9, f"unknown time unit value: {unit}")
        if not float(step).is_integer():
            raise failure(
                6586400,
                "The step parameter in a range statement must be a whole number when "
                "densifying a date range",
            )
        step = int(step)
    return step, unit, _bounds(spec["bounds"], step, unit)


def _bounds(bounds: Any, step: Any, unit: str | None) -> Any:
    if isinstance(bounds, str):
        if bounds not in ("full", "partition"):
            raise failure(5946802, "Bounds string must either be 'full' or 'partition'")
        return bounds
    if not isinstance(bounds, list):
        raise failure(
            5733404,
            "The bounds in a range statement must be the string 'full', 'partition', or an "
            "ascending array of two numbers or two dates",
        )
    if len(bounds) != 2:
        raise failure(
            5733403, "A bounding array in a range statement must have exactly two elements"
        )
    low, high = bounds
    if is_number(low) and is_number(high):
        if unit is not None:
            raise failure(5733409, "Numeric bounds may not have unit parameter")
        if not type_name(low) == type_name(high) == type_name(step):
            raise failure(5876900, "Upper bound, lower bound, and step must all have the same type")
    elif isinstance(low, datetime.datetime) and isinstance(high, datetime.datetime):
        if unit is None:
            raise failure(5733410, "A bounding array of dates must specify a unit")
    else:
        raise failure(
            5733406, "A bounding array must contain either both dates or both numeric types"
        )
    if compare(low, high) > 0:
        raise failure(
            5733402,
            "A bounding array must be an ascending array of either two dates or two numbers",
        )
    return (low, high)


def _fields(
    stage: str, spec: Mapping[str, Any], required: tuple[str, ...], optional: tuple[str, ...]
) -> None:
    for key in spec:
        if key not in required and key not in optional:
            raise failure(40415, f"BSON field '{stage}.{key}' is an unknown field.")
    for key in required:
        if key not in spec:
            raise failure(40414, f"BSON field '{stage}.{key}' is missing but a required field")


def _path(name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, str):
        raise failure(14, f"BSON field '$densify.{name}' must be a string, not {type_name(value)}")
    if not value or value.startswith("$"):
        raise failure(16410, f"FieldPath field names may not start with '$': {value!r}")
    return split_path(value)
