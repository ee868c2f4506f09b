"""The window functions of `$setWindowFields` that are not `$group` accumulators.

Ranks and `$shift` look at positions; `$locf` and `$linearFill` (what `$fill` runs) fill
nulls from their neighbours; `$derivative` and `$integral` read the sortBy field as the
x axis, a date in milliseconds, re-expressed per `unit`.
"""

import datetime
import itertools
import math
from collections.abc import Callable, Mapping
from typing import Any

from bson.decimal128 import Decimal128

from tessera.store.aggregation.expressions import (
    compile_expression,
    evaluate,
    failure,
    field_path,
    is_number,
    type_name,
)
from tessera.store.aggregation.expressions.dates import to_millis
from tessera.store.aggregation.pipeline import Documents, Run
from tessera.store.aggregation.stages.window_bounds import (
    UNIT_MILLIS,
    SortField,
    Spans,
    time_unit,
)
from tessera.store.bounds.deadlines import checked
from tessera.store.values.paths import MISSING

# A window function: (its argument, the sorted partition, the sortBy, the spans of its
# window or None when it takes none, the run) -> one value per document.
Function = Callable[[Any, Documents, SortField, Spans | None, Run], list[Any]]


def ranks(name: str) -> Function:
    """`$rank`, `$denseRank` or `$documentNumber` over the sortBy keys."""

    def compute(
        arg: Any, docs: Documents, sort: SortField, spans: Spans | None, run: Run
    ) -> list[Any]:
        if arg != {}:
            raise failure(5371603, f"{name} must be specified with '{{}}' as the value")
        if not sort.present or sort.path is None:
            raise failure(
                5371602,
                f"{name} must be specified with a top level sortBy expression with exactly "
                "one element",
            )
        values = [sort.key(doc) for doc in docs]
        out: list[int] = []
        dense = 0
        for i, key in enumerate(values):
            tied = i > 0 and not key < values[i - 1] and not values[i - 1] < key
            if name == "$documentNumber":
                out.append(i + 1)
            elif name == "$rank":
                out.append(out[-1] if tied else i + 1)
            else:
                dense = dense if tied else dense + 1
                out.append(dense)
        return out

    return compute


def shift(spec: Any, docs: Documents, sort: SortField, spans: Spans | None, run: Run) -> list[Any]:
    """`$shift`: the output of the document `by` positions away, or `default`."""
    if not sort.present:
        raise failure(9, "'$shift' requires a sortBy")
    if not isinstance(spec, Mapping) or "output" not in spec or "by" not in spec:
        raise failure(5433001, "$shift requires 'output' and 'by'")
    output = compile_expression(spec["output"])
    by = spec["by"]
    if not is_number(by) or int(by) != by:
        raise failure(5433005, "$shift's 'by' must be an integer")
    default = spec.get("default")
    values = []
    for i in checked(range(len(docs))):
        j = i + int(by)
        value = output(docs[j], run.variables) if 0 <= j < len(docs) else default
        values.append(None if value is MISSING else value)
    return values


def locf(expr: Any, docs: Documents, sort: SortField, spans: Spans | None, run: Run) -> list[Any]:
    """`$locf`: each null or missing value replaced by the last one before it that was not."""
    if not sort.present:
        raise failure(9, "'$locf' requires a sortBy")
    read = compile_expression(expr)
    last = None
    out = []
    for doc in checked(docs):
        value = read(doc, run.variables)
        if value is not MISSING and value is not None:
            last = value
        out.append(last)
    return out


def linear_fill(
    expr: Any, docs: Documents, sort: SortField, spans: Spans | None, run: Run
) -> list[Any]:
    """`$linearFill`: nulls between two numbers interpolated along the sortBy field."""
    require_single_sort("$linearFill", sort)
    assert sort.path is not None
    read = compile_expression(expr)
    xs: list[Any] = []
    ys: list[Any] = []
    for doc in checked(docs):
        y = read(doc, run.variables)
        if not is_number(y) and y is not None and y is not MISSING:
            raise failure(
                14, f"Value to be filled must be numeric or nullish, but found {type_name(y)}"
            )
        x = field_path(doc, sort.path)
        is_date = isinstance(x, datetime.datetime)
        if not is_number(x) and not is_date:
            raise failure(
                14, f"Value of the sortBy field must be numeric or a date, but found {type_name(x)}"
            )
        same_kind = bool(xs) and isinstance(xs[-1], datetime.datetime) == is_date
        if same_kind and _position(x) == _position(xs[-1]):
            raise failure(
                6050106, "There can be no repeated values in the sort field in the same partition"
            )
        if xs and not same_kind:
            raise failure(
                14,
                f"Conflicting sort value types, previously received type {type_name(xs[-1])}, "
                f"but found {type_name(x)}",
            )
        xs.append(x)
        ys.append(None if y is MISSING else y)
    known = [i for i, y in enumerate(ys) if y is not None]
    out = list(ys)
    for left, right in itertools.pairwise(known):
        x1, y1, x2, y2 = _position(xs[left]), ys[left], _position(xs[right]), ys[right]
        for i in range(left + 1, right):
            slope = _arithmetic("$divide", _arithmetic("$subtract", y2, y1), x2 - x1)
            out[i] = _arithmetic("$add", y1, _arithmetic("$multiply", _position(xs[i]) - x1, slope))
    return out


def derivative(
    arg: Any, docs: Documents, sort: SortField, spans: Spans | None, run: Run
) -> list[Any]:
    """`$derivative`: (change of input) / (change of sortBy) between a window's ends."""
    read, unit = _input_and_unit("$derivative", arg, sort)
    if spans is None:
        raise failure(9, "$derivative requires explicit window bounds")
    assert sort.path is not None
    out: list[Any] = []
    for start, end in checked(spans):
        if end - start < 1:
            out.append(None)
            continue
        left, right = docs[start], docs[end - 1]
        x1, x2 = field_path(left, sort.path), field_path(right, sort.path)
        dates = isinstance(x1, datetime.datetime) and isinstance(x2, datetime.datetime)
        if unit is not None and not dates:
            raise failure(5624900, "$derivative with 'unit' expects the sortBy field to be a Date")
        if unit is None:
            if isinstance(x1, datetime.datetime) or isinstance(x2, datetime.datetime):
                raise failure(5624901, "$derivative where the sortBy is a Date requires an 'unit'")
            if not (is_number(x1) and is_number(x2)):
                raise failure(
                    5624902, "$derivative (with no 'unit') expects the sortBy field to be numeric"
                )
        run_length = _arithmetic("$subtract", x2, x1)
        rise = _arithmetic("$subtract", read(right, run.variables), read(left, run.variables))
        if rise is None or rise is MISSING:
            raise failure(5624903, "$derivative input must not be null or missing")
        if run_length == 0:
            out.append(None)
            continue
        result = _arithmetic("$divide", rise, run_length)
        out.append(result if unit is None else _arithmetic("$multiply", result, UNIT_MILLIS[unit]))
    return out


def integral(
    arg: Any, docs: Documents, sort: SortField, spans: Spans | None, run: Run
) -> list[Any]:
    """`$integral`: the trapezoidal area under the input along the sortBy field."""
    read, unit = _input_and_unit("$integral", arg, sort)
    assert sort.path is not None
    points = []
    for doc in checked(docs):
        x, y = field_path(doc, sort.path), read(doc, run.variables)
        if not is_number(y) or not (is_number(x) or isinstance(x, datetime.datetime)):
            raise failure(
                5423900,
                "The input value of $integral window function must be a vector of 2 value, the "
                "first value must be numeric or date type and the second must be numeric.",
            )
        if unit is not None and not isinstance(x, datetime.datetime):
            raise failure(
                5423901, "$integral with 'outputUnit' expects the sortBy field to be a Date"
            )
        if unit is None and not is_number(x):
            raise failure(
                5423902, "$integral (with no 'outputUnit') expects the sortBy field to be numeric"
            )
        points.append((_position(x), _float(y)))
    # Running sums of the trapezoids, and of the NaNs (MongoDB makes a window with a NaN
    # NaN): a window's area is a difference of two of them.
    areas, nans = [0.0], [0]
    for (x1, y1), (x2, y2) in itertools.pairwise(points):
        areas.append(areas[-1] + (0.0 if math.isnan(y1 + y2) else (x2 - x1) * (y1 + y2) / 2.0))
    for _, y in points:
        nans.append(nans[-1] + math.isnan(y))
    whole = [(0, len(docs))] * len(docs)
    out: list[Any] = []
    for start, end in checked(spans if spans is not None else whole):
        if end <= start:
            out.append(None)
        elif end - start == 1:
            out.append(0)
        elif nans[end] - nans[start]:
            out.append(math.nan)
        else:
            area = areas[end - 1] - areas[start]
            out.append(area if unit is None else area / UNIT_MILLIS[unit])
    return out


def _input_and_unit(name: str, arg: Any, sort: SortField) -> tuple[Any, str | None]:
    require_single_sort(name, sort)
    if not isinstance(arg, Mapping):
        raise failure(9, f"{name} expects an object, but got a {type_name(arg)}: {arg!r}")
    for key in arg:
        if key not in ("input", "unit"):
            raise failure(9, f"{name} got unexpected argument: {key}")
    if "input" not in arg:
        raise failure(9, f"{name} requires an 'input' expression")
    unit = time_unit(arg["unit"], fixed=True) if "unit" in arg else None
    return compile_expression(arg["input"]), unit


def require_single_sort(name: str, sort: SortField) -> None:
    """Refuse a missing or compound sortBy for `name` (code 9, as MongoDB)."""
    if not sort.present:
        raise failure(9, f"{name} requires a sortBy")
    if sort.path is None:
        raise failure(9, f"{name} requires a non-compound sortBy")


def _position(x: Any) -> Any:
    """A sortBy value on the x axis: a date in milliseconds, a number as it is."""
    if isinstance(x, datetime.datetime):
        return to_millis(x)
    return _float(x) if isinstance(x, Decimal128) else x


def _float(value: Any) -> float:
    return float(value.to_decimal() if isinstance(value, Decimal128) else value)


def _arithmetic(operator: str, a: Any, b: Any) -> Any:
    """`a` and `b` through MongoDB's arithmetic operator (its types and its errors)."""
    return evaluate({operator: [{"$literal": a}, {"$literal": b}]}, {})
