"""`$setWindowFields`: accumulators and ranks over sorted partitions of the documents."""

from collections.abc import Callable, Mapping
from typing import Any

from tessera.store.deadlines import checked
from tessera.store.expressions import compile_expression, failure, is_number
from tessera.store.group import accumulator
from tessera.store.limits import ACCUMULATOR_BYTES, accumulator_error, approximate_size
from tessera.store.ordering import hash_key
from tessera.store.paths import MISSING
from tessera.store.pipeline import Documents, Run, sort_spec_key, with_value

_RANKS = ("$rank", "$denseRank", "$documentNumber")


def window_stage(docs: Documents, arg: Any, run: Run) -> Documents:
    """`$setWindowFields`: each document gets the outputs of its partition's windows."""
    if not isinstance(arg, Mapping) or not isinstance(arg.get("output"), Mapping):
        raise failure(40414, "$setWindowFields requires an 'output' object")
    for key in arg:
        if key not in ("partitionBy", "sortBy", "output"):
            raise failure(40415, f"BSON field '$setWindowFields.{key}' is an unknown field.")
    partition_key = compile_expression(arg.get("partitionBy"))
    partitions: dict[Any, Documents] = {}
    for doc in checked(docs):
        value = partition_key(doc, run.variables)
        partitions.setdefault(hash_key(None if value is MISSING else value), []).append(doc)
    sort_by = arg.get("sortBy")
    order = sort_spec_key(sort_by) if sort_by is not None else None
    run.footprint.forget()
    out: Documents = []
    for members in partitions.values():
        ordered = sorted(members, key=order) if order else members
        columns = {
            field: _window_column(field, spec, ordered, order, run)
            for field, spec in arg["output"].items()
        }
        for i, doc in enumerate(ordered):
            for field, column in columns.items():
                doc = with_value(doc, field.split("."), column[i])
            out.append(doc)
    return out


def _window_column(field: str, spec: Any, docs: Documents, order: Any, run: Run) -> list[Any]:
    """The value of one window output for each document of a sorted partition."""
    if not isinstance(spec, Mapping):
        raise failure(40234, f"The field '{field}' must be a window function object")
    window = spec.get("window")
    functions = {k: v for k, v in spec.items() if k != "window"}
    if len(functions) != 1:
        raise failure(40234, f"The field '{field}' must name exactly one window function")
    ((name, expr),) = functions.items()
    if name in _RANKS:
        if order is None:
            raise failure(5371602, f"{name} requires a sortBy in $setWindowFields")
        keys = [order(doc) for doc in docs]
        return _ranks(name, keys)
    if name == "$shift":
        return _shift(expr, docs, run)
    read, fold = accumulator(field, {name: expr})
    readings = [read(doc, run.variables) for doc in checked(docs)]
    low, high = _document_bounds(window, len(docs))
    bounds = [(max(0, low(i)), max(0, high(i) + 1)) for i in range(len(docs))]
    if name in ("$push", "$addToSet"):
        _check_windows(name, readings, bounds)
    # A window per document: the whole partition's for each, unless bounded.
    return [fold(readings[start:end]) for start, end in checked(bounds)]


def _check_windows(name: str, readings: list[Any], bounds: list[tuple[int, int]]) -> None:
    """Refuse a window whose values take `ACCUMULATOR_BYTES` or more, as MongoDB refuses a
    ``$push`` or ``$addToSet`` over its limit (repeated values count each time)."""
    total = 0
    running = [0]
    for value in readings:
        total += 0 if value is MISSING else approximate_size(value)
        running.append(total)
    for start, end in bounds:
        used = running[max(start, end)] - running[start]
        if used >= ACCUMULATOR_BYTES:
            raise accumulator_error(name, used)


def _ranks(name: str, keys: list[Any]) -> list[int]:
    ranks: list[int] = []
    dense = 0
    for i, key in enumerate(keys):
        tied = i > 0 and not key < keys[i - 1] and not keys[i - 1] < key
        if name == "$documentNumber":
            ranks.append(i + 1)
        elif name == "$rank":
            ranks.append(ranks[-1] if tied else i + 1)
        else:
            dense = dense if tied else dense + 1
            ranks.append(dense)
    return ranks


def _shift(spec: Any, docs: Documents, run: Run) -> list[Any]:
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


def _document_bounds(window: Any, size: int) -> tuple[Callable[[int], int], Callable[[int], int]]:
    """Functions from a position to the first and last positions of its window."""
    if window is None:
        return (lambda i: 0), (lambda i: size - 1)
    if not isinstance(window, Mapping) or set(window) != {"documents"}:
        raise failure(
            5397900,
            "only 'documents' windows are supported by the embedded store, not "
            f"{dict(window) if isinstance(window, Mapping) else window!r}",
        )
    bounds = window["documents"]
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise failure(5397901, "'documents' window bounds must be an array of two values")

    def bound(value: Any, unbounded: int) -> Callable[[int], int]:
        if value == "unbounded":
            return lambda i: unbounded
        if value == "current":
            return lambda i: i
        if is_number(value) and int(value) == value:
            return lambda i: i + int(value)
        raise failure(5397902, f"invalid window bound: {value!r}")

    return bound(bounds[0], 0), bound(bounds[1], size - 1)
