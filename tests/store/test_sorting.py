"""Sort specifications and BSON sort order, from MongoDB's cursor.sort() documentation."""

import datetime

import pytest
from bson.int64 import Int64
from bson.objectid import ObjectId
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import OperationFailure

from tessera.store.query.sorting import normalize_sort, sort_key


@pytest.mark.parametrize(
    ("spec", "direction", "expected"),
    [
        (None, None, []),
        ("a", None, [("a", 1)]),
        ("a", DESCENDING, [("a", -1)]),
        ([("a", ASCENDING), ("b", DESCENDING)], None, [("a", 1), ("b", -1)]),
        ({"a": -1, "b": 1}, None, [("a", -1), ("b", 1)]),
        (["a", ("b", -1)], None, [("a", 1), ("b", -1)]),
        ({"a": 1.0, "b": Int64(-1)}, None, [("a", 1), ("b", -1)]),
        ((("x.y", 1),), None, [("x.y", 1)]),
    ],
)
def test_normalize_sort_accepts_pymongo_forms(spec, direction, expected) -> None:
    assert normalize_sort(spec, direction) == expected


@pytest.mark.parametrize("spec", [{"a": 2}, {"a": 0}, {"a": "up"}, {"a": True}, [("a", 1.5)]])
def test_bad_direction_is_refused(spec) -> None:
    with pytest.raises(OperationFailure, match="must be 1") as info:
        normalize_sort(spec)
    assert info.value.code == 15975


@pytest.mark.parametrize("spec", [5, [("a", 1, 2)], [(1, 1)], {"": 1}])
def test_bad_shape_is_refused(spec) -> None:
    with pytest.raises(TypeError):
        normalize_sort(spec)


def test_direction_with_a_list_is_refused() -> None:
    with pytest.raises(TypeError):
        normalize_sort([("a", 1)], -1)


def ids(docs, spec):
    return [d["_id"] for d in sorted(docs, key=sort_key(normalize_sort(spec)))]


def test_sort_across_types_follows_bson_order() -> None:
    docs = [
        {"_id": "date", "v": datetime.datetime(2020, 1, 1)},
        {"_id": "true", "v": True},
        {"_id": "oid", "v": ObjectId()},
        {"_id": "str", "v": "a"},
        {"_id": "obj", "v": {"x": 1}},
        {"_id": "num", "v": 3},
        {"_id": "null", "v": None},
        {"_id": "missing"},
    ]
    assert ids(docs, "v") == ["null", "missing", "num", "str", "obj", "oid", "true", "date"]
    assert ids(docs, [("v", -1)]) == [
        "date",
        "true",
        "oid",
        "obj",
        "str",
        "num",
        "null",
        "missing",
    ]


def test_numbers_sort_by_value_across_types() -> None:
    docs = [{"_id": i, "v": v} for i, v in enumerate([2.5, Int64(1), 3, -1.0, float("nan")])]
    assert ids(docs, "v") == [4, 3, 1, 0, 2]


def test_array_field_sorts_by_min_ascending_and_max_descending() -> None:
    docs = [
        {"_id": "a", "v": [1, 10]},
        {"_id": "b", "v": [5]},
        {"_id": "c", "v": 7},
    ]
    assert ids(docs, "v") == ["a", "b", "c"]
    assert ids(docs, [("v", -1)]) == ["a", "c", "b"]


def test_empty_array_sorts_before_null() -> None:
    docs = [{"_id": "null", "v": None}, {"_id": "empty", "v": []}, {"_id": "one", "v": [1]}]
    assert ids(docs, "v") == ["empty", "null", "one"]
    assert ids(docs, [("v", -1)]) == ["one", "null", "empty"]


def test_dotted_path_through_array_of_documents() -> None:
    docs = [
        {"_id": "a", "items": [{"p": 5}, {"p": 1}]},
        {"_id": "b", "items": [{"p": 3}]},
        {"_id": "c", "items": {"p": 2}},
        {"_id": "d"},
    ]
    assert ids(docs, "items.p") == ["d", "a", "c", "b"]
    assert ids(docs, [("items.p", -1)]) == ["a", "b", "c", "d"]


def test_mixed_directions_and_stability() -> None:
    docs = [
        {"_id": 1, "user": "u2", "t": 5},
        {"_id": 2, "user": "u1", "t": 1},
        {"_id": 3, "user": "u1", "t": 9},
        {"_id": 4, "user": "u2", "t": 5},
    ]
    assert ids(docs, [("user", 1), ("t", -1)]) == [3, 2, 1, 4]
    assert ids(docs, [("user", -1), ("t", 1)]) == [1, 4, 2, 3]


def test_arrays_and_missing_fields_mixed() -> None:
    docs = [
        {"_id": "none"},
        {"_id": "one", "a": 1},
        {"_id": "empty", "a": []},
        {"_id": "[1]", "a": [1]},
        {"_id": "[0,1]", "a": [0, 1]},
    ]
    assert ids(docs, "a") == ["empty", "none", "[0,1]", "one", "[1]"]
    assert ids(docs, [("a", -1)]) == ["one", "[1]", "[0,1]", "none", "empty"]
