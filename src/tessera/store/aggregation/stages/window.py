"""`$setWindowFields`: each document gets values computed over a window of its partition.

Documents are grouped by `partitionBy`, each partition sorted by `sortBy`; an output is a
`$group` accumulator folded over each document's window (see `window_bounds`) or one of
the window functions of `window_functions`.
"""

from collections.abc import Mapping
from typing import Any

from tessera.store.aggregation.expressions import compile_expression, failure
from tessera.store.aggregation.group import accumulator
from tessera.store.aggregation.pipeline import Documents, Run, with_value
from tessera.store.aggregation.stages import window_functions as functions
from tessera.store.aggregation.stages.window_bounds import SortField, sort_field, window_spans
from tessera.store.bounds.deadlines import checked
from tessera.store.bounds.limits import ACCUMULATOR_BYTES, accumulator_error, approximate_size
from tessera.store.values.ordering import hash_key, sort_value
from tessera.store.values.paths import MISSING

# Window functions that are not accumulators, and whether each takes a 'window'.
_FUNCTIONS: dict[str, tuple[functions.Function, bool]] = {
    "$rank": (functions.ranks("$rank"), False),
    "$denseRank": (functions.ranks("$denseRank"), False),
    "$documentNumber": (functions.ranks("$documentNumber"), False),
    "$shift": (functions.shift, False),
    "$locf": (functions.locf, False),
    "$linearFill": (functions.linear_fill, False),
    "$derivative": (functions.derivative, True),
    "$integral": (functions.integral, True),
}


def window_stage(docs: Documents, arg: Any, run: Run) -> Documents:
    """`$setWindowFields`: each document gets the outputs of its partition's windows."""
    if not isinstance(arg, Mapping) or not isinstance(arg.get("output"), Mapping):
        raise failure(40414, "$setWindowFields requires an 'output' object")
    for key in arg:
        if key not in ("partitionBy", "sortBy", "output"):
            raise failure(40415, f"BSON field '$setWindowFields.{key}' is an unknown field.")
    sort = sort_field(arg.get("sortBy"))
    partition_key = compile_expression(arg.get("partitionBy"))
    partitions: dict[Any, tuple[Any, Documents]] = {}
    for doc in checked(docs):
        value = partition_key(doc, run.variables)
        value = None if value is MISSING else value
        partitions.setdefault(hash_key(value), (value, []))[1].append(doc)
    run.footprint.forget()
    out: Documents = []
    # As MongoDB sorts by the partition, then by sortBy: partitions in order of their value.
    for _, members in sorted(partitions.values(), key=lambda part: sort_value(part[0])):
        ordered = sorted(members, key=sort.key) if sort.present else members
        columns = {
            field: _column(field, spec, ordered, sort, run) for field, spec in arg["output"].items()
        }
        for i, doc in enumerate(ordered):
            for field, column in columns.items():
                doc = with_value(doc, field.split("."), column[i])
            out.append(doc)
    return out


def _column(field: str, spec: Any, docs: Documents, sort: SortField, run: Run) -> list[Any]:
    """The value of one window output for each document of a sorted partition."""
    if not isinstance(spec, Mapping):
        raise failure(40234, f"The field '{field}' must be a window function object")
    window = spec.get("window")
    names = [key for key in spec if key != "window"]
    if not names:
        raise failure(9, "Must specify a window function in output field")
    if len(names) > 1:
        raise failure(9, "Cannot specify two functions in window function spec")
    name = names[0]
    if name in _FUNCTIONS:
        function, windowed = _FUNCTIONS[name]
        if "window" in spec and not windowed:
            raise failure(9, f"Window function found an unknown argument: window ({name})")
        if windowed:
            functions.require_single_sort(name, sort)  # before the window, as MongoDB checks
        spans = window_spans(window, sort, docs) if "window" in spec else None
        return function(spec[name], docs, sort, spans, run)
    read, fold = accumulator(field, {name: spec[name]})
    readings = [read(doc, run.variables) for doc in checked(docs)]
    spans = window_spans(window, sort, docs)
    if name in ("$push", "$addToSet"):
        _check_windows(name, readings, spans)
    return [fold(readings[start:end]) for start, end in checked(spans)]


def _check_windows(name: str, readings: list[Any], spans: list[tuple[int, int]]) -> None:
    """Refuse a window whose values take `ACCUMULATOR_BYTES` or more, as MongoDB refuses a
    ``$push`` or ``$addToSet`` over its limit (repeated values count each time)."""
    total = 0
    running = [0]
    for value in readings:
        total += 0 if value is MISSING else approximate_size(value)
        running.append(total)
    for start, end in spans:
        used = running[max(start, end)] - running[start]
        if used >= ACCUMULATOR_BYTES:
            raise accumulator_error(name, used)
