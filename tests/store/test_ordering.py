"""BSON comparison order, from MongoDB's "Comparison/Sort Order" documentation."""

import datetime
import functools
import itertools
import math
import re

import pytest
from bson.binary import Binary
from bson.code import Code
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.store.values.ordering import (
    SortKey,
    _sort_value,
    compare,
    equal,
    hash_key,
    identical,
    sort_value,
    type_rank,
)
from tessera.store.values.paths import MISSING

# One value per type, in MongoDB's documented order.
ASCENDING = [
    MinKey(),
    None,
    float("nan"),
    -5,
    2.5,
    Int64(3),
    Decimal128("3.5"),
    "",
    "abc",
    {},
    {"a": 1},
    [],
    [1],
    b"",
    Binary(b"x", 5),
    ObjectId("000000000000000000000000"),
    ObjectId("ffffffffffffffffffffffff"),
    False,
    True,
    datetime.datetime(1970, 1, 1),
    datetime.datetime(2024, 1, 1),
    Timestamp(1, 1),
    Timestamp(2, 0),
    Regex("a"),
    re.compile("b"),
    Code("x"),
    MaxKey(),
]


def test_types_sort_in_bson_order() -> None:
    shuffled = list(reversed(ASCENDING))
    assert [sort_value(v) for v in sorted(shuffled, key=SortKey)] == [
        sort_value(v) for v in ASCENDING
    ]


@pytest.mark.parametrize("i", range(len(ASCENDING) - 1))
def test_each_value_compares_below_the_next(i: int) -> None:
    assert compare(ASCENDING[i], ASCENDING[i + 1]) == -1
    assert compare(ASCENDING[i + 1], ASCENDING[i]) == 1


def test_missing_ranks_as_null() -> None:
    assert type_rank(MISSING) == type_rank(None)
    assert equal(MISSING, None)
    assert compare(MISSING, MinKey()) == 1


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (1, 1.0),
        (1, Int64(1)),
        (1, Decimal128("1")),
        (1.5, Decimal128("1.5")),
        (Decimal128("1.50"), Decimal128("1.5")),
        (0, -0.0),
        (float("nan"), float("nan")),
        (float("nan"), Decimal128("NaN")),
        ({"a": 1}, {"a": 1.0}),
        ([1, "x"], [1.0, "x"]),
        (2**62, Int64(2**62)),
        (datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC), datetime.datetime(2024, 1, 1)),
    ],
)
def test_equal_values(a: object, b: object) -> None:
    assert equal(a, b)
    assert compare(a, b) == 0
    assert hash(hash_key(a)) == hash(hash_key(b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (1, True),
        (0, False),
        (0, None),
        ("1", 1),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
        ([1, 2], [2, 1]),
        ([1], 1),
        (b"x", "x"),
        (Binary(b"x", 0), Binary(b"x", 5)),
        (Regex("a", "i"), Regex("a")),
        (2**53 + 1, float(2**53)),
    ],
)
def test_unequal_values(a: object, b: object) -> None:
    assert not equal(a, b)
    assert compare(a, b) != 0
    assert hash_key(a) != hash_key(b)


@pytest.mark.parametrize(
    ("low", "high"),
    [
        (float("-inf"), -(2**63)),
        (float("nan"), float("-inf")),
        (Decimal128("NaN"), Decimal128("-Infinity")),
        (1, 1.5),
        (Decimal128("0.1"), 0.2),
        ("B", "a"),
        ("a", "ab"),
        ("z", "é"),
        ({"a": 1}, {"a": 2}),
        ({"a": 1}, {"a": 1, "b": 0}),
        ({"a": 5}, {"b": 0}),
        ({"z": 1}, {"a": "x"}),
        ([1, 2], [1, 3]),
        ([1], [1, 0]),
        (Binary(b"zz"), Binary(b"aaa")),
        (Binary(b"a", 0), Binary(b"a", 1)),
        (Timestamp(5, 9), Timestamp(6, 0)),
        (datetime.datetime(2020, 1, 1), datetime.datetime(2020, 1, 1, 0, 0, 0, 1000)),
    ],
)
def test_order_within_a_type(low: object, high: object) -> None:
    assert compare(low, high) == -1
    assert compare(high, low) == 1


def test_strings_compare_by_utf8_bytes() -> None:
    words = ["ä", "a", "Z", "\U0001f600", "\uffff", "b"]
    by_bytes = sorted(words, key=lambda w: w.encode())
    assert sorted(words, key=SortKey) == by_bytes


def test_sort_key_reverse_inverts_only_its_field() -> None:
    rows = [(1, "b"), (1, "a"), (0, "c")]
    ordered = sorted(rows, key=lambda r: (SortKey(r[0]), SortKey(r[1], reverse=True)))
    assert ordered == [(0, "c"), (1, "b"), (1, "a")]


def test_hash_key_groups_equal_values() -> None:
    values = [1, 1.0, Int64(1), Decimal128("1"), True, "1", None, MISSING, [1], {"a": 1}]
    groups = {hash_key(v) for v in values}
    assert len(groups) == 6


def test_nan_is_lowest_number_and_equal_to_itself() -> None:
    assert compare(math.nan, -math.inf) == -1
    assert compare(math.nan, None) == 1
    assert equal(math.nan, Decimal128("-NaN"))


def test_unknown_type_is_refused() -> None:
    with pytest.raises(TypeError, match="not a BSON value"):
        type_rank(object())


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (1, 1, True),
        (1, 1.0, False),
        (1, Int64(1), False),
        (0.0, -0.0, False),
        (float("nan"), float("nan"), True),
        ({"a": 1, "b": [1, {"c": "x"}]}, {"a": 1, "b": [1, {"c": "x"}]}, True),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}, False),
        ([1, 2], [1, 2, 3], False),
        (None, MISSING, False),
    ],
)
def test_identical_means_the_same_bson(a: object, b: object, expected: bool) -> None:
    assert identical(a, b) is expected


bson_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-3, 3).map(Int64),
    st.floats(allow_nan=True),
    st.decimals(allow_nan=False, places=2, min_value=-10, max_value=10).map(
        lambda d: Decimal128(str(d))
    ),
    st.text(max_size=3),
    st.binary(max_size=2),
    st.datetimes(min_value=datetime.datetime(1970, 1, 1)),
    st.sampled_from([MinKey(), MaxKey(), ObjectId("000000000000000000000001")]),
)
bson_values = st.recursive(
    bson_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(["a", "b"]), children, max_size=2),
    ),
    max_leaves=6,
)


@settings(max_examples=200, deadline=None)
@given(bson_values, bson_values)
def test_compare_equal_and_hash_key_agree(a: object, b: object) -> None:
    assert compare(a, b) == -compare(b, a)
    assert equal(a, b) == (compare(a, b) == 0) == (hash_key(a) == hash_key(b))
    if equal(a, b):
        assert hash(hash_key(a)) == hash(hash_key(b))


@settings(max_examples=100, deadline=None)
@given(st.lists(bson_values, max_size=6))
def test_sort_key_orders_like_compare(values: list[object]) -> None:
    by_key = sorted(values, key=SortKey)
    by_compare = sorted(values, key=functools.cmp_to_key(compare))
    assert [hash_key(v) for v in by_key] == [hash_key(v) for v in by_compare]
    for low, high in itertools.pairwise(by_key):
        assert compare(low, high) <= 0


def test_a_large_value_gets_the_key_it_would_get_built_whole() -> None:
    """Keys of values past 64 KB are built part by part, checking the job's time: the
    same key as built whole in one walk."""
    small = {"a": [1, "x", {"b": 2.5}], "c": {"d": [None, True]}}
    large = {"many": [small] * 3_000, "long": list(range(20_000)), "small": small}
    assert sort_value(large) == _sort_value(large)
    assert sort_value(large["many"]) == _sort_value(large["many"])
