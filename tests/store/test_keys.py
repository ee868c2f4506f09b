"""Index keys sort, byte for byte, in MongoDB's BSON order."""

import datetime

from bson.binary import Binary
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.store.engine.keys import EMPTY_ARRAY, encode_key, encode_value, invert, successor
from tessera.store.values.ordering import compare

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, width=64),
    st.text(max_size=6),
    st.builds(Int64, st.integers(min_value=-(2**53), max_value=2**53)),
    st.binary(max_size=4).map(lambda b: Binary(b, 0)),
    st.builds(ObjectId, st.binary(min_size=12, max_size=12)),
    st.datetimes(
        min_value=datetime.datetime(1900, 1, 1), max_value=datetime.datetime(2200, 1, 1)
    ).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)),
    st.sampled_from([MinKey(), MaxKey(), "", "a", "a\x00", "a\x00b", "ab", "\x00"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)


def sign(n: int) -> int:
    return (n > 0) - (n < 0)


@settings(max_examples=400, deadline=None)
@given(values, values)
def test_key_order_is_bson_order(a, b):
    ka, kb = encode_value(a), encode_value(b)
    assert sign((ka > kb) - (ka < kb)) == compare(a, b)


@settings(max_examples=200, deadline=None)
@given(values, values, values, values)
def test_compound_keys_sort_by_component_with_directions(a1, a2, b1, b2):
    ka = encode_key([a1, a2], [1, -1])
    kb = encode_key([b1, b2], [1, -1])
    expected = compare(a1, b1) or -compare(a2, b2)
    assert sign((ka > kb) - (ka < kb)) == expected


def test_numbers_of_every_type_share_a_key():
    assert encode_value(1) == encode_value(1.0) == encode_value(Int64(1))
    assert encode_value(0.0) == encode_value(-0.0)
    assert encode_value(True) != encode_value(1)


def test_nan_sorts_below_every_number():
    assert encode_value(float("nan")) < encode_value(float("-inf")) < encode_value(-(10**300))


def test_empty_array_sorts_below_null_and_descending_inverts():
    assert encode_value(EMPTY_ARRAY) < encode_value(None) < encode_value(0)
    assert invert(encode_value(1)) > invert(encode_value(2))


def test_successor_bounds_every_key_with_the_prefix():
    prefix = encode_value("user")
    longer = encode_key(["user", 5], [1, 1])
    assert prefix <= longer < successor(prefix)
    assert successor(b"\xff\xff") is None
