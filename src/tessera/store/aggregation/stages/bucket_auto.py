"""`$bucketAuto`: documents spread evenly over a number of buckets by a value.

As in MongoDB, the documents are sorted by their `groupBy` value and cut into buckets of
about the same count (`round(documents / buckets)`); documents with a bucket's last value
join it, so a value never spans two buckets, and a bucket's `max` is the next one's `min`
(the last bucket's is its largest value). With a `granularity`, boundaries are rounded to
its series and every value must be a non-negative number.
"""

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tessera.store.aggregation.expressions import compile_expression, failure, is_number, type_name
from tessera.store.aggregation.group import accumulator, group_stage
from tessera.store.aggregation.pipeline import Documents, Run
from tessera.store.aggregation.stages.granularity import Round, rounders
from tessera.store.bounds.deadlines import checked
from tessera.store.values.ordering import compare, sort_value
from tessera.store.values.paths import MISSING

_INT32 = 2**31


def bucket_auto_stage(docs: Documents, arg: Any, run: Run) -> Documents:
    """The buckets of `docs`, each `{_id: {min, max}, <output fields>}`."""
    group_by, count, output, rounding = _parse(arg)
    key_of = compile_expression(group_by)
    keyed = []
    for doc in checked(docs):
        key = key_of(doc, run.variables)
        if rounding is not None:
            _check_key(key)
        keyed.append((None if key is MISSING else key, doc))
    keyed.sort(key=lambda pair: sort_value(pair[0]))  # stable: ties keep their order
    size = round_half_up(len(keyed) / count) if keyed else 0
    size = max(size, 1)
    out: Documents = []
    i, previous_max = 0, None
    for number in range(1, count + 1):
        if i >= len(keyed):
            break
        start, low = i, keyed[i][0]
        i = len(keyed) if number == count else min(len(keyed), i + size)
        high = keyed[i - 1][0]
        if rounding is None:
            while i < len(keyed) and compare(keyed[i][0], high) == 0:
                i += 1
            if i < len(keyed):
                high = keyed[i][0]
        else:
            up, down = rounding
            boundary = up(high)
            while i < len(keyed) and (
                compare(boundary, keyed[i][0]) > 0 or compare(high, keyed[i][0]) == 0
            ):
                high = keyed[i][0]
                i += 1
            zero = compare(boundary, 0) == 0
            high = down(keyed[i][0]) if zero and i < len(keyed) else boundary
            low = previous_max if previous_max is not None else down(low)
        previous_max = high
        members = [doc for _, doc in keyed[start:i]]
        spec = {"_id": {"$literal": {"min": low, "max": high}}, **output}
        out.extend(group_stage(members, spec, run))
    return out


def round_half_up(number: float) -> int:
    """`number` rounded half away from zero, as C++'s ``std::round`` (not Python's even)."""
    return int(Decimal(number).to_integral_value(rounding=ROUND_HALF_UP))


def _check_key(key: Any) -> None:
    if not is_number(key):
        raise failure(
            40258,
            "$bucketAuto can specify a 'granularity' with numeric boundaries only, but found a "
            f"value with type: {type_name(key)}",
        )
    number = float(key.to_decimal()) if not isinstance(key, int | float) else float(key)
    if number != number:
        raise failure(
            40259,
            "$bucketAuto can specify a 'granularity' with numeric boundaries only, but found a NaN",
        )
    if number < 0:
        raise failure(
            40260,
            "$bucketAuto can specify a 'granularity' with non-negative numbers only, but found "
            "a negative number",
        )


def _parse(arg: Any) -> tuple[Any, int, dict[str, Any], tuple[Round, Round] | None]:
    if not isinstance(arg, Mapping):
        raise failure(
            40240,
            f"The argument to $bucketAuto must be an object, but found type: {type_name(arg)}",
        )
    group_by: Any = MISSING
    count: int | None = None
    output: dict[str, Any] = {}
    rounding = None
    for name, value in arg.items():
        if name == "groupBy":
            group_by = _group_by(value)
        elif name == "buckets":
            count = _buckets(value)
        elif name == "output":
            if not isinstance(value, Mapping):
                raise failure(
                    40244,
                    f"The $bucketAuto 'output' field must be an object, but found type: "
                    f"{type_name(value)}",
                )
            for field, spec in value.items():
                accumulator(field, spec)  # checked now, as MongoDB parses it
            output = dict(value)
        elif name == "granularity":
            rounding = rounders(value)
        else:
            raise failure(40245, f"Unrecognized option to $bucketAuto: {name}")
    if group_by is MISSING or count is None:
        raise failure(40246, "$bucketAuto requires 'groupBy' and 'buckets' to be specified")
    return group_by, count, output or {"count": {"$sum": 1}}, rounding


def _group_by(value: Any) -> Any:
    expression = isinstance(value, Mapping) and bool(value) and str(next(iter(value)))[:1] == "$"
    path = isinstance(value, str) and len(value) > 1 and value.startswith("$")
    if not expression and not path:
        raise failure(
            40239,
            "The $bucketAuto 'groupBy' field must be defined as a $-prefixed path or an "
            f"expression object, but found: {value!r}",
        )
    return value


def _buckets(value: Any) -> int:
    if not is_number(value):
        raise failure(
            40241,
            f"The $bucketAuto 'buckets' field must be a numeric value, but found type: "
            f"{type_name(value)}",
        )
    number = value.to_decimal() if not isinstance(value, int | float) else value
    if number != int(number) or not -_INT32 <= number < _INT32:
        raise failure(
            40242,
            "The $bucketAuto 'buckets' field must be representable as a 32-bit integer, but "
            f"found {float(number)}",
        )
    if number <= 0:
        raise failure(
            40243, f"The $bucketAuto 'buckets' field must be greater than 0, but found: {number}"
        )
    return int(number)
