"""compile_filter agrees with a small reference matcher on random documents and filters.

The reference covers equality, comparisons, $ne, $in, $nin, $exists and dotted paths
through embedded documents and arrays, written as directly as MongoDB's manual states
the rules, with its own notion of type brackets.
"""

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.store.query.filters import compile_filter

ABSENT = object()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([-1.5, 0.0, 1.0, 2.5]),
    st.sampled_from(["", "a", "b", "ab"]),
)
leaves = st.one_of(scalars, st.lists(scalars, max_size=3))
inner = st.dictionaries(st.sampled_from(["c", "d"]), leaves, max_size=2)
values = st.one_of(leaves, inner, st.lists(st.one_of(scalars, inner), max_size=3))
documents = st.dictionaries(st.sampled_from(["a", "b"]), values, max_size=2)
paths = st.sampled_from(["a", "b", "a.c", "a.d"])
targets = st.one_of(scalars, st.lists(scalars, max_size=2), inner)
conditions = st.one_of(
    st.tuples(st.just("$eq"), targets),
    st.tuples(st.sampled_from(["$gt", "$gte", "$lt", "$lte", "$ne"]), scalars),
    st.tuples(st.sampled_from(["$in", "$nin"]), st.lists(scalars, max_size=3)),
    st.tuples(st.just("$exists"), st.booleans()),
)


def bracket(value: Any) -> str:
    if value is None or value is ABSENT:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def same(x: Any, y: Any) -> bool:
    """Equality as MongoDB defines it for these values."""
    if bracket(x) != bracket(y):
        return False
    if isinstance(x, dict):
        return list(x) == list(y) and all(same(x[k], y[k]) for k in x)
    if isinstance(x, list):
        return len(x) == len(y) and all(same(a, b) for a, b in zip(x, y, strict=True))
    return bracket(x) == "null" or x == y


def reached(doc: dict[str, Any], path: str) -> list[Any]:
    """Values at `path`: arrays of documents are crossed, their scalars skipped."""
    head, _, rest = path.partition(".")
    value = doc.get(head, ABSENT)
    if not rest:
        return [value]
    if isinstance(value, dict):
        return [value.get(rest, ABSENT)]
    if isinstance(value, list):
        return [item.get(rest, ABSENT) for item in value if isinstance(item, dict)]
    return [ABSENT]


def holds(op: str, target: Any, value: Any) -> bool:
    """Whether one value (not expanded) satisfies a positive operator."""
    if op == "$eq":
        return same(value, target)
    if op == "$in":
        return any(same(value, t) for t in target)
    if bracket(value) != bracket(target) or bracket(value) in ("list", "dict"):
        return False
    if bracket(value) == "null":
        return op in ("$gte", "$lte")
    return {
        "$gt": value > target,
        "$gte": value >= target,
        "$lt": value < target,
        "$lte": value <= target,
    }[op]


def reference(doc: dict[str, Any], path: str, op: str, target: Any) -> bool:
    found = reached(doc, path)
    if op == "$exists":
        return any(v is not ABSENT for v in found) == target
    negated = {"$ne": "$eq", "$nin": "$in"}
    positive = negated.get(op, op)
    hit = any(
        holds(positive, target, v)
        or (isinstance(v, list) and any(holds(positive, target, e) for e in v))
        for v in found
    )
    return not hit if op in negated else hit


@settings(max_examples=200, deadline=None)
@given(documents, paths, conditions)
def test_operator_filters_match_the_reference(doc, path, condition) -> None:
    op, target = condition
    assert compile_filter({path: {op: target}})(doc) == reference(doc, path, op, target)


@settings(max_examples=200, deadline=None)
@given(documents, paths, targets)
def test_plain_equality_matches_the_reference(doc, path, target) -> None:
    assert compile_filter({path: target})(doc) == reference(doc, path, "$eq", target)


@settings(max_examples=100, deadline=None)
@given(documents, st.lists(st.tuples(paths, conditions), min_size=1, max_size=3))
def test_and_or_nor_combine_like_python(doc, clauses) -> None:
    filters = [{path: {op: target}} for path, (op, target) in clauses]
    expected = [reference(doc, path, op, target) for path, (op, target) in clauses]
    assert compile_filter({"$and": filters})(doc) == all(expected)
    assert compile_filter({"$or": filters})(doc) == any(expected)
    assert compile_filter({"$nor": filters})(doc) == (not any(expected))
