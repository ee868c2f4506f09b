"""The scope check: which filters pin ``user_id`` to the caller."""

from __future__ import annotations

import re

import pytest
from bson import Regex
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.isolation.scope import pin_first, pins_by_equality, pins_user, runs_server_code
from tessera.store.query.filters import compile_filter

ME = "alice"


class _Liar(str):
    """A string that claims to equal everything."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = str.__hash__


PINNED = [
    {"user_id": ME},
    {"user_id": {"$eq": ME}},
    {"user_id": {"$in": [ME]}},
    {"user_id": {"$in": [ME, ME]}},
    {"user_id": {"$eq": ME, "$exists": True}},
    {"user_id": ME, "title": "x"},
    {"user_id": ME, "$or": [{"a": 1}, {"b": 2}]},
    {"user_id": ME, "$expr": {"$gt": ["$a", 1]}},
    {"$and": [{"user_id": ME}]},
    {"$and": [{"a": 1}, {"user_id": {"$eq": ME}}]},
    {"$and": [{"$and": [{"user_id": ME}]}]},
    {"_id": 1, "$and": [{"user_id": {"$in": [ME]}}, {"$or": [{"a": 1}]}]},
]

NOT_PINNED = [
    None,
    {},
    "alice",
    {"_id": 1},
    {"user_id": "bob"},
    {"user_id": {"$ne": "bob"}},
    {"user_id": {"$in": [ME, "bob"]}},
    {"user_id": {"$in": []}},
    {"user_id": {"$in": [ME, None]}},
    {"user_id": {"$nin": ["bob"]}},
    {"user_id": {"$not": {"$ne": ME}}},
    {"user_id": {"$gte": ME}},
    {"user_id": {"$exists": True}},
    {"user_id": {"$regex": "^alice"}},
    {"user_id": Regex("alice")},
    {"user_id": re.compile("alice")},
    {"user_id": [ME]},
    {"user_id": {"$eq": [ME]}},
    {"user_id": {"first": ME}},
    {"user_id": _Liar("bob")},
    {"user_id": {"$eq": _Liar("bob")}},
    {"user_id.x": ME},
    {"USER_ID": ME},
    {"$or": [{"user_id": ME}]},
    {"$or": [{"user_id": ME}, {"user_id": "bob"}]},
    {"$or": [{"user_id": ME}, {"a": 1}]},
    {"$nor": [{"user_id": {"$ne": ME}}]},
    {"$expr": {"$eq": ["$user_id", ME]}},
    {"$where": "this.user_id == 'alice'"},
    {"$and": [{"$or": [{"user_id": ME}, {"a": 1}]}]},
    {"$and": {"user_id": ME}},
    {"$and": []},
]


@pytest.mark.parametrize("query", PINNED, ids=repr)
def test_filters_that_pin_the_caller_are_accepted(query):
    assert pins_user(query, ME)


@pytest.mark.parametrize("query", NOT_PINNED, ids=repr)
def test_filters_that_could_reach_another_user_are_refused(query):
    assert not pins_user(query, ME)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"user_id": ME}, True),
        ({"user_id": {"$eq": ME}}, True),
        ({"$and": [{"user_id": ME}]}, True),
        # MongoDB copies only equalities into the document an upsert creates.
        ({"user_id": {"$in": [ME]}}, False),
        ({"user_id": "bob"}, False),
        ({"user_id": {"$eq": "bob"}}, False),
    ],
)
def test_an_upsert_needs_an_equality_it_can_copy(query, expected):
    assert pins_by_equality(query, ME) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"$where": "sleep(100)"}, True),
        ({"a": 1, "$and": [{"$where": "x"}]}, True),
        ([{"$group": {"_id": 1, "x": {"$accumulator": {}}}}], True),
        ({"$expr": {"$function": {"body": "f", "args": [], "lang": "js"}}}, True),
        ({"user_id": ME, "$expr": {"$eq": ["$a", 1]}}, False),
        ({"where": "$where"}, False),
    ],
)
def test_server_side_javascript_is_spotted_anywhere(value, expected):
    assert runs_server_code(value) is expected


# --- property: an accepted filter never matches another user's document ----------------

USERS = ["alice", "bob", "carol"]
values = st.sampled_from([ME, ME, ME, "bob", "carol", None, 1])
user_lists = st.lists(values, min_size=1, max_size=3)

user_clause = st.one_of(
    values,
    st.builds(lambda v: {"$eq": v}, values),
    st.builds(lambda v: {"$ne": v}, values),
    st.builds(lambda vs: {"$in": vs}, user_lists),
    st.builds(lambda vs: {"$nin": vs}, user_lists),
    st.builds(lambda v, w: {"$eq": v, "$ne": w}, values, values),
)
other_clause = st.one_of(
    st.integers(0, 3),
    st.builds(lambda n: {"$gt": n}, st.integers(0, 3)),
    st.builds(lambda ns: {"$in": ns}, st.lists(st.integers(0, 3), min_size=1, max_size=3)),
)
leaf = st.fixed_dictionaries({}, optional={"user_id": user_clause, "n": other_clause})


def _extend(children: st.SearchStrategy) -> st.SearchStrategy:
    lists = st.lists(children, min_size=1, max_size=3)
    return st.one_of(
        st.builds(lambda fs: {"$and": fs}, lists),
        st.builds(lambda fs: {"$or": fs}, lists),
        st.builds(lambda fs: {"$nor": fs}, lists),
        st.builds(lambda f, fs: {**f, "$and": fs}, leaf, lists),
        st.builds(lambda f, fs: {**f, "$or": fs}, leaf, lists),
    )


filters = st.recursive(leaf, _extend, max_leaves=8)
# Every owner (someone, no one, a missing field) with every value of the other field.
DOCUMENTS = [
    {"n": n, **({} if owner == "missing" else {"user_id": owner})}
    for owner in [*USERS, None, "missing"]
    for n in range(4)
]


@settings(max_examples=700, deadline=None)
@given(query=filters)
def test_an_accepted_filter_matches_only_the_callers_documents(query):
    if not pins_user(query, ME):
        return
    matches = compile_filter(query)
    for doc in DOCUMENTS:
        if matches(doc):
            assert doc.get("user_id") == ME, (query, doc)


@settings(max_examples=200, deadline=None)
@given(query=filters)
def test_pinning_a_filter_with_and_makes_it_accepted(query):
    assert pins_user({"$and": [query, {"user_id": ME}]}, ME)
    assert pins_user({**query, "user_id": ME}, ME)


_PIN = st.sampled_from([{"user_id": ME}, {"user_id": {"$eq": ME}}, {"user_id": {"$in": [ME]}}])
_OTHER = st.sampled_from(
    [
        {"n": 1},
        {"n": {"$gt": 0}},
        {"user_id": {"$exists": True}},
        {"user_id": {"$ne": "bob"}},
        {"$or": [{"n": 1}, {"m": 2}]},
        {"$expr": {"$eq": ["$n", 1]}},
    ]
)
_DOCS = [
    {"user_id": ME, "n": 1},
    {"user_id": ME, "n": 2, "m": 2},
    {"user_id": "bob", "n": 1},
    {"user_id": [ME, "bob"], "n": 1},
    {"user_id": ["bob"], "n": 1},
    {"n": 1},
]


@st.composite
def pinned_filters(draw: st.DrawFn) -> dict:
    clauses = [draw(_PIN), *draw(st.lists(_OTHER, max_size=3))]
    clauses = draw(st.permutations(clauses))
    if draw(st.booleans()):
        return {"$and": clauses}
    merged: dict = {"$and": []}
    for clause in clauses:
        (key,) = clause
        if key in merged or key == "$and":
            merged["$and"].append(clause)
        else:
            merged[key] = clause[key]
    return {k: v for k, v in merged.items() if v != []}


@settings(max_examples=300)
@given(pinned_filters())
def test_pin_first_puts_the_plain_pin_first_and_matches_the_same_documents(query):
    assert pins_user(query, ME)
    rewritten = pin_first(query, ME)
    assert next(iter(rewritten.items())) == ("user_id", ME)
    before, after = compile_filter(query), compile_filter(rewritten)
    assert [before(d) for d in _DOCS] == [after(d) for d in _DOCS]
