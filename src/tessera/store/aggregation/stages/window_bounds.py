"""The windows of `$setWindowFields`: which documents of a sorted partition each one sees.

A window is ``documents: [lo, hi]`` (positions relative to the current document) or
``range: [lo, hi]`` (values of the one sortBy field, relative to the current document's,
with ``unit`` for dates), each bound a number, ``"current"`` or ``"unbounded"``. Bounds
are checked as MongoDB checks them, with its error codes.
"""

import bisect
import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bson.decimal128 import Decimal128

from tessera.store.aggregation.expressions import (
    evaluate,
    failure,
    field_path,
    is_number,
    type_name,
)
from tessera.store.aggregation.expressions.dates import to_millis
from tessera.store.aggregation.pipeline import Documents, sort_spec_key
from tessera.store.values.paths import MISSING

#: Milliseconds in each unit a fixed-length duration may take (`$derivative`, `$integral`).
UNIT_MILLIS = {
    "week": 604_800_000,
    "day": 86_400_000,
    "hour": 3_600_000,
    "minute": 60_000,
    "second": 1000,
    "millisecond": 1,
}
_CALENDAR_UNITS = ("year", "quarter", "month")
# Half-open [start, end) positions of a window in its partition, one per document.
Spans = list[tuple[int, int]]


@dataclass(frozen=True)
class SortField:
    """A stage's sortBy as windows need it: whether there is one, its sort key, and its
    path and direction when it sorts by a single field."""

    present: bool
    key: Callable[[Mapping[str, Any]], Any]
    path: list[str] | None = None
    ascending: bool = True


def sort_field(sort_by: Any) -> SortField:
    """The `SortField` of a `$setWindowFields` sortBy (None: no sortBy)."""
    if sort_by is None:
        return SortField(False, lambda doc: 0)
    key = sort_spec_key(sort_by)
    if len(sort_by) != 1:
        return SortField(True, key)
    ((name, direction),) = sort_by.items()
    return SortField(True, key, str(name).split("."), direction != -1)


def time_unit(value: Any, fixed: bool) -> str:
    """A unit name, checked; `fixed` refuses the units of varying length (code 5490704)."""
    if not isinstance(value, str):
        raise failure(9, f"'unit' must be a string, but got {type_name(value)}")
    if value not in UNIT_MILLIS and value not in _CALENDAR_UNITS:
        raise failure(9, f"unknown time unit value: {value}")
    if fixed and value in _CALENDAR_UNITS:
        raise failure(5490704, "unit must be 'week' or smaller")
    return value


def window_spans(window: Any, sort: SortField, docs: Documents) -> Spans:
    """The window of each document of the sorted partition `docs`."""
    size = len(docs)
    if window is None:
        return [(0, size)] * size
    if not isinstance(window, Mapping):
        raise failure(9, "'window' field must be an object")
    documents, bounds, unit = (window.get(k, MISSING) for k in ("documents", "range", "unit"))
    if documents is not MISSING and bounds is not MISSING:
        raise failure(9, "Window bounds can specify either 'documents' or 'unit', not both.")
    if bounds is MISSING and unit is not MISSING:
        raise failure(9, "Window bounds can only specify 'unit' with range-based bounds.")
    if documents is MISSING and bounds is MISSING:
        if window:
            raise failure(
                9,
                "'window' field can only contain 'documents' as the only argument or 'range' "
                "with an optional 'unit' field",
            )
        return [(0, size)] * size
    if documents is not MISSING:
        if len(window) != 1:
            raise failure(9, "'window' field that specifies documents cannot have other fields")
        return _document_spans(documents, sort, size)
    if len(window) != (1 if unit is MISSING else 2):
        raise failure(
            9, "'window' field that specifies range cannot have other fields besides 'unit'"
        )
    return _range_spans(bounds, None if unit is MISSING else time_unit(unit, False), sort, docs)


def _pair(bounds: Any) -> tuple[Any, Any]:
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise failure(9, f"Window bounds must be a 2-element array: {bounds!r}")
    return bounds[0], bounds[1]


def _bound(value: Any, integral: bool) -> Any:
    """'unbounded', 'current' or a number (an integer if `integral`)."""
    if isinstance(value, str):
        if value in ("unbounded", "current"):
            return value
        raise failure(9, "Window bounds must be 'unbounded', 'current', or a number.")
    if not is_number(value):
        raise failure(9, "Range-based bounds expression must be a number")
    number = value.to_decimal() if isinstance(value, Decimal128) else value
    if integral and number != int(number):
        raise failure(9, "Numeric bounds must be an integer")
    return number


def _check_forward(low: Any, high: Any) -> None:
    low_n = 0 if low == "current" else low
    high_n = 0 if high == "current" else high
    if not isinstance(low_n, str) and not isinstance(high_n, str) and low_n > high_n:
        raise failure(5339900, f"Lower bound must not exceed upper bound: [{low}, {high}]")


def _document_spans(bounds: Any, sort: SortField, size: int) -> Spans:
    low, high = (_bound(b, integral=True) for b in _pair(bounds))
    _check_forward(low, high)
    if not (low == high == "unbounded") and not sort.present:
        raise failure(5339901, "Document-based bounds require a sortBy")

    def position(bound: Any, i: int, unbounded: int) -> int:
        if bound == "unbounded":
            return unbounded
        return i if bound == "current" else i + int(bound)

    spans = []
    for i in range(size):
        start = max(0, position(low, i, 0))
        end = min(size, max(0, position(high, i, size - 1) + 1))
        spans.append((start, max(start, end)))
    return spans


def _range_spans(bounds: Any, unit: str | None, sort: SortField, docs: Documents) -> Spans:
    low, high = (_bound(b, integral=unit is not None) for b in _pair(bounds))
    _check_forward(low, high)
    if sort.path is None:
        raise failure(5339902, "Range-based bounds require sortBy a single field")
    if not sort.ascending:
        raise failure(8947401, "Range-based bounds require an ascending sortBy")
    values = [field_path(doc, sort.path) for doc in docs]
    for value in values:
        _check_range_value(value, unit)
    keys = [_number(v) for v in values]

    def limit(bound: Any, value: Any) -> float | None:
        if bound == "unbounded":
            return None
        if bound == "current":
            return _number(value)
        if unit is None:
            return _number(evaluate({"$add": [{"$literal": value}, {"$literal": bound}]}, {}))
        moved = evaluate(
            {"$dateAdd": {"startDate": {"$literal": value}, "unit": unit, "amount": int(bound)}}, {}
        )
        return _number(moved)

    spans = []
    for value in values:
        lower, upper = limit(low, value), limit(high, value)
        start = 0 if lower is None else bisect.bisect_left(keys, lower)
        end = len(keys) if upper is None else bisect.bisect_right(keys, upper)
        spans.append((start, max(start, end)))
    return spans


def _check_range_value(value: Any, unit: str | None) -> None:
    is_date = isinstance(value, datetime.datetime)
    if unit is not None:
        if not is_date:
            raise failure(
                5429513,
                f"Invalid range: Expected the sortBy field to be a Date, but it was "
                f"{type_name(value)}",
            )
    elif is_date:
        raise failure(
            5429413,
            "Invalid range: For windows that involve date or time ranges, a unit must be provided.",
        )
    elif not is_number(value):
        raise failure(
            5429414,
            f"Invalid range: Expected the sortBy field to be a number, but it was "
            f"{type_name(value)}",
        )


def _number(value: Any) -> float:
    """A number or a date as a float to compare positions by (a date in milliseconds)."""
    if isinstance(value, datetime.datetime):
        return to_millis(value)
    return float(value.to_decimal() if isinstance(value, Decimal128) else value)
