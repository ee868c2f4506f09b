"""Query planning: which index answers a filter and sort, and which key ranges to read.

An index is usable when its leading fields have equality conditions (a literal, ``$eq``
or ``$in``) followed by at most one range (``$gt $gte $lt $lte``), or when it yields the
requested sort order after those equalities. Ranges stay inside the value's type bracket,
as MongoDB's comparisons do. Candidates are always re-checked with the compiled filter,
so a plan only has to return a superset of the matching documents.

Most queries repeat a few shapes with new values (``{"user_id": ...}`` sorted by date), so
a filter of plain equalities is planned once per shape and collection; later queries of
the shape only encode their values into the key range (2.8 µs rather than 21).
"""

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.regex import Regex
from pymongo.errors import OperationFailure

from tessera.store.engine import keys
from tessera.store.engine.catalog import CollectionInfo, IndexInfo
from tessera.store.query.text import Search, parse_search
from tessera.store.values.paths import MISSING, array_index, split_path

__all__ = ["Plan", "TextPlan", "exact_id_key", "id_lookup", "plan_query", "text_clause"]

Range = tuple[bytes | None, bytes | None]  # [low, high): low inclusive, high exclusive
_RANGE_OPS = ("$gt", "$gte", "$lt", "$lte")
_MAX_RANGES = 1000
_EXACT_INT = 2**53
_MAX_SHAPES = 256  # plans remembered per collection
_INDEX_NOT_FOUND = 27


@dataclass
class TextPlan:
    """A ``$text`` query's reading: its text index and parsed search, and the plan of the
    rest of the filter when an index narrows it (FTS5 then reads only those rows)."""

    index: IndexInfo
    search: Search
    rest: dict[str, Any]  # the filter without its $text
    within: "Plan | None" = None


@dataclass
class Plan:
    """How to read candidates: an index and key ranges, or a collection scan."""

    index: IndexInfo | None
    ranges: list[Range] = field(default_factory=list)
    reverse: bool = False
    sorted: bool = False  # rows arrive in the requested sort order
    exact: bool = False  # every row in the ranges matches the filter
    point: bool = False  # at most one document can match
    # The fields whose equality values, in the index's order, make the ranges' prefix.
    fields: tuple[str, ...] = ()
    text: TextPlan | None = None

    def explain(self) -> dict[str, Any]:
        """A short description of the plan, for ``cursor.explain()``."""
        if self.text is not None:
            within = self.text.within
            return {
                "stage": "TEXT",
                "indexName": self.text.index.name,
                "inputStage": within.explain() if within else {"stage": "TEXT_OR"},
            }
        if self.index is None:
            return {"stage": "COLLSCAN"}
        return {
            "stage": "IXSCAN",
            "indexName": self.index.name,
            "keyPattern": self.index.key_pattern,
            "isMultiKey": self.index.multikey,
            "ranges": len(self.ranges),
            "direction": "backward" if self.reverse else "forward",
            "providesSort": self.sorted,
            "exact": self.exact,
        }


@dataclass
class _Condition:
    points: list[Any] | None = None
    bounds: list[tuple[str, Any]] = field(default_factory=list)
    exact: bool = False  # the condition is exactly one equality with a plain value


def plan_query(
    coll: CollectionInfo | None,
    filter: Mapping[str, Any],
    sort: Sequence[tuple[str, int]] | None = None,
) -> Plan:
    """The cheapest plan this simple cost model finds for `filter` and `sort`."""
    if coll is None:
        if text_clause(filter) is not None:
            raise OperationFailure("text index required for $text query", _INDEX_NOT_FOUND)
        return Plan(None)
    shape = _equality_shape(filter, sort)
    if shape is None:
        return _choose(coll, filter, sort)
    try:
        known = coll.plans.get(shape)
    except TypeError:  # a sort that is not (name, direction) pairs: the matcher refuses it
        return _choose(coll, filter, sort)
    if known is not None:
        return _bind(known, filter)
    plan = _choose(coll, filter, sort)
    if len(coll.plans) >= _MAX_SHAPES:
        coll.plans.clear()
    coll.plans[shape] = plan
    return plan


def _equality_shape(
    filter: Mapping[str, Any], sort: Sequence[tuple[str, int]] | None
) -> tuple[Any, ...] | None:
    """What the plan of a filter of plain equalities depends on, besides the collection's
    indexes (changing those clears the collection's plans); None for other filters."""
    for name, value in filter.items():
        kind = type(value)
        plain = kind in (str, ObjectId, bool) or (kind is int and abs(value) < _EXACT_INT)
        if not plain or type(name) is not str or name[:1] == "$":
            return None
    return (tuple(filter), tuple(sort or ()))


def _bind(plan: Plan, filter: Mapping[str, Any]) -> Plan:
    """``plan``, made for another filter of the same shape, with ``filter``'s values."""
    if plan.index is None:
        return plan
    directions = [d for _, d in plan.index.fields[: len(plan.fields)]]
    prefix = keys.encode_key([filter[name] for name in plan.fields], directions)
    ranges = [(prefix or None, keys.successor(prefix) if prefix else None)]
    return Plan(plan.index, ranges, plan.reverse, plan.sorted, plan.exact, plan.point, plan.fields)


def _choose(
    coll: CollectionInfo,
    filter: Mapping[str, Any],
    sort: Sequence[tuple[str, int]] | None,
) -> Plan:
    sort = list(sort or [])
    clause = text_clause(filter)
    if clause is not None:
        return _text_plan(coll, *clause)
    best: tuple[tuple[Any, ...], Plan] | None = None
    try:
        conditions = _conditions(filter)
        indexes = [index for index in coll.all_indexes() if index.text is None]
        candidates = [_plan_for(index, conditions, sort, filter) for index in indexes]
    except (TypeError, ValueError, AttributeError):
        # Not a valid filter: scan, and let the matcher report the error.
        return Plan(None)
    for candidate in candidates:
        if candidate is None:
            continue
        score, plan = candidate
        if best is None or score > best[0]:
            best = (score, plan)
    if best is None:
        return Plan(None, sorted=not sort)
    return best[1]


def text_clause(filter: Mapping[str, Any]) -> tuple[Any, dict[str, Any]] | None:
    """A ``$text`` operand, at the top level of `filter` or of one of its top-level
    ``$and`` clauses (where MongoDB accepts it too), and the filter without it."""
    if "$text" in filter:
        return filter["$text"], {key: value for key, value in filter.items() if key != "$text"}
    clauses = filter.get("$and")
    if not isinstance(clauses, list):
        return None
    for n, clause in enumerate(clauses):
        if isinstance(clause, Mapping) and "$text" in clause:
            inner = {key: value for key, value in clause.items() if key != "$text"}
            others = [c for i, c in enumerate(clauses) if i != n] + ([inner] if inner else [])
            rest = {key: value for key, value in filter.items() if key != "$and"}
            if others:
                rest["$and"] = others
            return clause["$text"], rest
    return None


def _text_plan(coll: CollectionInfo, operand: Any, rest: dict[str, Any]) -> Plan:
    """The plan of a ``$text`` query: its index's FTS5 table, narrowed to the rows of an
    index range of the other conditions (a scoped ``user_id``) when there is one."""
    index = next((i for i in coll.indexes.values() if i.text is not None), None)
    if index is None:
        raise OperationFailure("text index required for $text query", _INDEX_NOT_FOUND)
    assert index.text is not None
    search = parse_search(operand, index.text.default_language)
    within = _choose(coll, rest, None) if rest else None
    if within is not None and within.index is None:
        within = None
    return Plan(None, text=TextPlan(index, search, rest, within))


def exact_id_key(filter: Mapping[str, Any]) -> bytes | None:
    """The `_id` key when `filter` is only an `_id` equality that the key decides exactly:
    such a query is one primary-key lookup, with no plan and no matcher."""
    if len(filter) != 1 or "_id" not in filter:
        return None
    return _id_key(filter["_id"])


def id_lookup(filter: Mapping[str, Any]) -> tuple[bytes, tuple[tuple[str, Any], ...]] | None:
    """The `_id` key and the other clauses when `filter` is an exact `_id` equality beside
    plain equalities on top-level fields, such as isolation's ``{"user_id": u, "_id": i}``:
    one primary-key lookup, whose one document `reads.residual_match` then checks. None
    for any other filter."""
    if "_id" not in filter:
        return None
    key = _id_key(filter["_id"])
    if key is None:
        return None
    if len(filter) == 1:
        return key, ()
    others = []
    for name, value in filter.items():
        if name == "_id":
            continue
        kind = type(value)
        plain = kind in (str, ObjectId, bool) or (kind is int and abs(value) < _EXACT_INT)
        # A dotted name is a path and `$` starts an operator: the matcher's, not ours.
        if not plain or type(name) is not str or name[:1] == "$" or "." in name:
            return None
        others.append((name, value))
    return key, tuple(others)


def _id_key(value: Any) -> bytes | None:
    if isinstance(value, Mapping) and list(value) == ["$eq"]:
        value = value["$eq"]
    if type(value) in (ObjectId, str) or (type(value) is int and abs(value) < _EXACT_INT):
        return keys.encode_value(value)
    return None


def _plan_for(
    index: IndexInfo,
    conditions: dict[str, _Condition],
    sort: list[tuple[str, int]],
    filter: Mapping[str, Any],
) -> tuple[tuple[Any, ...], Plan] | None:
    eq_fields: list[str] = []
    points: list[list[Any]] = []
    for name, _ in index.fields:
        condition = conditions.get(name)
        if condition is None or condition.points is None:
            break
        eq_fields.append(name)
        points.append(condition.points)
    k = len(eq_fields)
    bounds: list[tuple[str, Any]] = []
    if k < len(index.fields):
        condition = conditions.get(index.fields[k][0])
        if condition is not None and condition.bounds:
            # On a multikey index each bound may hold for a different element: use one.
            bounds = condition.bounds[:1] if index.multikey else condition.bounds
    single = all(len(p) == 1 for p in points)
    order = _order(index, eq_fields, sort) if single else None
    if k == 0 and not bounds and (order is None or index.sparse or not sort):
        return None
    n_ranges = math.prod(len(p) for p in points) if points else 1
    if n_ranges > _MAX_RANGES:
        return None
    directions = [d for _, d in index.fields]
    ranges: list[Range] = []
    for combo in itertools.product(*points):
        prefix = keys.encode_key(combo, directions[:k])
        if bounds:
            ranges.append(_bounded(prefix, bounds, directions[k]))
        else:
            ranges.append((prefix or None, keys.successor(prefix) if prefix else None))
    ranges.sort(key=lambda r: r[0] or b"")
    point = index.unique and single and k == len(index.fields)
    exact = single and _covers(filter, conditions, eq_fields)
    plan = Plan(
        index,
        ranges,
        reverse=bool(order),
        sorted=order is not None,
        exact=exact,
        point=point,
        fields=tuple(eq_fields),
    )
    score = (point, k + (1 if bounds else 0), order is not None and bool(sort), -len(index.fields))
    return score, plan


def _order(index: IndexInfo, eq_fields: list[str], sort: list[tuple[str, int]]) -> bool | None:
    """None when the index cannot yield `sort`; else whether to read it backwards."""
    if index.multikey or any(d not in (1, -1) for _, d in sort):
        return None  # a textScore sort, which no index gives
    remaining = [(f, d) for f, d in sort if f not in eq_fields]
    after = index.fields[len(eq_fields) :]
    if len(remaining) > len(after):
        return None
    same: set[bool] = set()
    for (name, direction), (field_name, field_dir) in zip(remaining, after, strict=False):
        if name != field_name:
            return None
        same.add(direction == field_dir)
    if len(same) > 1:
        return None
    return same == {False}


def _bounded(prefix: bytes, bounds: list[tuple[str, Any]], direction: int) -> Range:
    low: bytes = b""
    high: bytes | None = None
    for op, value in bounds:
        encoded = keys.encode_value(value)
        bracket = encoded[0]
        if direction < 0:
            encoded = keys.invert(encoded)
            bracket = 255 - bracket
            # Descending bytes: a greater value has a smaller key.
            op = {"$gt": "$lt", "$gte": "$lte", "$lt": "$gt", "$lte": "$gte"}[op]
        lows = [prefix + bytes([bracket])]
        highs = [prefix + bytes([bracket + 1])]
        full = prefix + encoded
        if op == "$gt":
            lows.append(keys.successor(full) or full)
        elif op == "$gte":
            lows.append(full)
        elif op == "$lt":
            highs.append(full)
        else:
            highs.append(keys.successor(full) or full)
        low = max([low, *lows])
        high = min(h for h in [high, *highs] if h is not None)
    return (low or None, high)


def _conditions(filter: Mapping[str, Any]) -> dict[str, _Condition]:
    out: dict[str, _Condition] = {}
    for name, value in filter.items():
        if name == "$and" and isinstance(value, list):
            for clause in value:
                if isinstance(clause, Mapping):
                    for sub_name, sub in _conditions(clause).items():
                        out.setdefault(sub_name, sub)
            continue
        if name.startswith("$") or name in out:
            continue
        condition = _condition(value)
        if condition is not None:
            out[name] = condition
    return out


def _condition(value: Any) -> _Condition | None:
    if not _is_operator_doc(value):
        if _indexable(value):
            return _Condition([value], exact=_exact_value(value))
        return None
    condition = _Condition()
    if "$eq" in value and _indexable(value["$eq"]):
        condition.points = [value["$eq"]]
        condition.exact = len(value) == 1 and _exact_value(value["$eq"])
    elif (
        "$in" in value
        and isinstance(value["$in"], list | tuple)
        and all(_indexable(v) for v in value["$in"])
    ):
        condition.points = list(value["$in"])
    for op in _RANGE_OPS:
        if op in value and _rangeable(value[op]):
            condition.bounds.append((op, value[op]))
    if condition.points is None and not condition.bounds:
        return None
    return condition


def _is_operator_doc(value: Any) -> bool:
    return isinstance(value, Mapping) and any(str(k).startswith("$") for k in value)


def _indexable(value: Any) -> bool:
    # Null also matches missing fields, arrays match as a whole or by element, and a
    # regex is a pattern: those stay with the matcher.
    return not (
        value is None
        or value is MISSING
        or isinstance(value, list | tuple | Regex | re.Pattern)
        or _is_operator_doc(value)
    )


def _rangeable(value: Any) -> bool:
    if not _indexable(value) or isinstance(value, Mapping):
        return False
    return not (isinstance(value, float) and math.isnan(value))


def _exact_value(value: Any) -> bool:
    if isinstance(value, bool | str | ObjectId):
        return True
    if isinstance(value, int | Int64):
        return abs(int(value)) < _EXACT_INT
    return False


def _covers(
    filter: Mapping[str, Any], conditions: dict[str, _Condition], eq_fields: list[str]
) -> bool:
    """True when the equality prefix alone decides the filter."""
    for name in filter:
        if name not in eq_fields or not conditions[name].exact:
            return False
        if any(array_index(part) is not None for part in split_path(name)):
            return False
    return True
