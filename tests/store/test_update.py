"""Update operators, from MongoDB's update operator documentation."""

import copy
import datetime

import pytest
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.timestamp import Timestamp
from pymongo.errors import WriteError

from tessera.store.update.update import (
    apply_replacement,
    apply_update,
    compile_update,
    validate_update,
)
from tessera.store.update.upserts import upsert_seed

WHEN = datetime.datetime(2024, 5, 1, 12, 0, 0, 123456)

CASES = [
    # $set: fields, nested paths, array elements, padding.
    ({"a": 1}, {"$set": {"a": 2}}, {"a": 2}),
    ({"a": 1}, {"$set": {"b": 2}}, {"a": 1, "b": 2}),
    ({}, {"$set": {"a.b.c": 1}}, {"a": {"b": {"c": 1}}}),
    ({"a": {"x": 1}}, {"$set": {"a.y": 2}}, {"a": {"x": 1, "y": 2}}),
    ({"a": [1, 2]}, {"$set": {"a.1": 9}}, {"a": [1, 9]}),
    ({"a": [1]}, {"$set": {"a.3": 9}}, {"a": [1, None, None, 9]}),
    ({"a": [{"b": 1}]}, {"$set": {"a.0.b": 2}}, {"a": [{"b": 2}]}),
    ({"a": [{}]}, {"$set": {"a.1.b": 2}}, {"a": [{}, {"b": 2}]}),
    ({}, {"$set": {"b": 1, "a": 1}}, {"a": 1, "b": 1}),
    ({}, {"$set": {"d": WHEN}}, {"d": WHEN.replace(microsecond=123000)}),
    ({"a": 1}, {"$set": {"a": {"x": [1, {"y": 2}]}}}, {"a": {"x": [1, {"y": 2}]}}),
    # $unset.
    ({"a": 1, "b": 2}, {"$unset": {"a": ""}}, {"b": 2}),
    ({"a": {"b": 1, "c": 2}}, {"$unset": {"a.b": 1}}, {"a": {"c": 2}}),
    ({"a": [1, 2, 3]}, {"$unset": {"a.1": 1}}, {"a": [1, None, 3]}),
    # $inc and $mul, with MongoDB's numeric type rules.
    ({"n": 1}, {"$inc": {"n": 2}}, {"n": 3}),
    ({"n": 1}, {"$inc": {"n": -1.5}}, {"n": -0.5}),
    ({}, {"$inc": {"n": 5}}, {"n": 5}),
    ({"n": Int64(1)}, {"$inc": {"n": 1}}, {"n": Int64(2)}),
    ({"n": 2**31 - 1}, {"$inc": {"n": 1}}, {"n": Int64(2**31)}),
    ({"n": Decimal128("1.1")}, {"$inc": {"n": 1}}, {"n": Decimal128("2.1")}),
    ({"a": {"n": 1}}, {"$inc": {"a.n": 1, "a.m": 1}}, {"a": {"n": 2, "m": 1}}),
    ({"n": 3}, {"$mul": {"n": 2}}, {"n": 6}),
    ({"n": 3}, {"$mul": {"n": 0.5}}, {"n": 1.5}),
    ({}, {"$mul": {"n": 2}}, {"n": 0}),
    ({}, {"$mul": {"n": 2.5}}, {"n": 0.0}),
    # $min and $max compare in BSON order.
    ({"n": 5}, {"$min": {"n": 3}}, {"n": 3}),
    ({"n": 5}, {"$max": {"n": 7}}, {"n": 7}),
    ({}, {"$max": {"n": 7}}, {"n": 7}),
    ({"n": 5}, {"$min": {"n": None}}, {"n": None}),
    ({"n": 5}, {"$max": {"n": "a"}}, {"n": "a"}),
    (
        {"d": datetime.datetime(2020, 1, 1)},
        {"$max": {"d": WHEN}},
        {"d": WHEN.replace(microsecond=123000)},
    ),
    # $rename.
    ({"a": 1, "b": 2}, {"$rename": {"a": "c"}}, {"b": 2, "c": 1}),
    ({"a": {"x": 1}}, {"$rename": {"a.x": "b.y"}}, {"a": {}, "b": {"y": 1}}),
    ({"a": 1, "c": 5}, {"$rename": {"a": "c"}}, {"c": 1}),
    # $push with modifiers.
    ({"t": [1]}, {"$push": {"t": 2}}, {"t": [1, 2]}),
    ({}, {"$push": {"t": 2}}, {"t": [2]}),
    ({"t": [1]}, {"$push": {"t": [2, 3]}}, {"t": [1, [2, 3]]}),
    ({"t": [1]}, {"$push": {"t": {"$each": [2, 3]}}}, {"t": [1, 2, 3]}),
    ({"t": [1, 2]}, {"$push": {"t": {"$each": [9], "$position": 0}}}, {"t": [9, 1, 2]}),
    ({"t": [1, 2, 3]}, {"$push": {"t": {"$each": [9], "$position": -1}}}, {"t": [1, 2, 9, 3]}),
    ({"t": [5, 1]}, {"$push": {"t": {"$each": [3], "$sort": 1}}}, {"t": [1, 3, 5]}),
    ({"t": [5, 1]}, {"$push": {"t": {"$each": [3], "$sort": -1}}}, {"t": [5, 3, 1]}),
    ({"t": [1, 2]}, {"$push": {"t": {"$each": [3, 4], "$slice": -3}}}, {"t": [2, 3, 4]}),
    ({"t": [1, 2]}, {"$push": {"t": {"$each": [], "$slice": 0}}}, {"t": []}),
    ({"t": [1, 2]}, {"$push": {"t": {"$each": [3], "$slice": Decimal128("-1")}}}, {"t": [3]}),
    ({"t": [1, 2]}, {"$push": {"t": {"$each": [3], "$position": 1.0}}}, {"t": [1, 3, 2]}),
    (
        {"q": [{"s": 3}, {"s": 9}]},
        {"$push": {"q": {"$each": [{"s": 5}], "$sort": {"s": -1}, "$slice": 2}}},
        {"q": [{"s": 9}, {"s": 5}]},
    ),
    # $addToSet.
    ({"t": ["a"]}, {"$addToSet": {"t": "b"}}, {"t": ["a", "b"]}),
    ({}, {"$addToSet": {"t": "b"}}, {"t": ["b"]}),
    ({"t": [1, 2]}, {"$addToSet": {"t": {"$each": [2, 3, 3]}}}, {"t": [1, 2, 3]}),
    (
        {"t": [{"a": 1, "b": 2}]},
        {"$addToSet": {"t": {"b": 2, "a": 1}}},
        {"t": [{"a": 1, "b": 2}, {"b": 2, "a": 1}]},
    ),
    # $pop, $pull, $pullAll.
    ({"t": [1, 2, 3]}, {"$pop": {"t": 1}}, {"t": [1, 2]}),
    ({"t": [1, 2, 3]}, {"$pop": {"t": -1}}, {"t": [2, 3]}),
    ({"t": [1, 2, 1]}, {"$pull": {"t": 1}}, {"t": [2]}),
    ({"t": [1, 5, 8]}, {"$pull": {"t": {"$gte": 5}}}, {"t": [1]}),
    ({"t": ["ab", "cd"]}, {"$pull": {"t": {"$in": ["cd", "x"]}}}, {"t": ["ab"]}),
    (
        {"r": [{"i": "A", "s": 5}, {"i": "B", "s": 8, "x": 1}]},
        {"$pull": {"r": {"s": 8, "i": "B"}}},
        {"r": [{"i": "A", "s": 5}]},
    ),
    ({"t": [[1, 2], [3]]}, {"$pull": {"t": [3]}}, {"t": [[1, 2]]}),
    # A logical operator first makes the condition a query on each element as a document,
    # as MongoDB's $pull reads it (scalars never match one).
    (
        {"r": [{"s": 5}, {"s": 8, "i": "B"}, 8]},
        {"$pull": {"r": {"$and": [{"s": {"$gte": 6}}, {"i": "B"}]}}},
        {"r": [{"s": 5}, 8]},
    ),
    (
        {"r": [{"s": 5}, {"s": 8}]},
        {"$pull": {"r": {"$or": [{"s": 5}, {"s": 9}]}}},
        {"r": [{"s": 8}]},
    ),
    ({"t": [0, 1, 5, 1]}, {"$pullAll": {"t": [1, 5]}}, {"t": [0]}),
    # Positional $[] and $[<id>].
    ({"g": [1, 2]}, {"$inc": {"g.$[]": 10}}, {"g": [11, 12]}),
    (
        {"g": [{"v": 1}, {"v": 2}]},
        {"$set": {"g.$[].w": 0}},
        {"g": [{"v": 1, "w": 0}, {"v": 2, "w": 0}]},
    ),
]


@pytest.mark.parametrize(("doc", "update", "expected"), CASES)
def test_update_operators(doc, update, expected) -> None:
    assert apply_update(doc, update) is True
    assert doc == expected
    assert list(doc) == list(expected)


NO_CHANGE = [
    ({"a": 1}, {"$set": {"a": 1}}),
    ({"a": {"b": [1]}}, {"$set": {"a": {"b": [1]}}}),
    ({"a": 1}, {"$unset": {"b": ""}}),
    ({"a": 1}, {"$unset": {"a.b.c": ""}}),
    ({"n": 5}, {"$min": {"n": 7}}),
    ({"n": 5}, {"$max": {"n": 5.0}}),
    ({"n": 5}, {"$inc": {"n": 0}}),
    ({"n": 5}, {"$mul": {"n": 1}}),
    ({"t": [1]}, {"$addToSet": {"t": 1.0}}),
    ({"t": [1]}, {"$pull": {"t": 2}}),
    ({"t": []}, {"$pop": {"t": 1}}),
    ({}, {"$pop": {"t": 1}}),
    ({"a": 1}, {"$rename": {"b": "c"}}),
    ({"a": 1}, {"$setOnInsert": {"b": 1}}),
    ({"t": [1, 2]}, {"$push": {"t": {"$each": [3], "$slice": 2}}}),
]


@pytest.mark.parametrize(("doc", "update"), NO_CHANGE)
def test_no_change_reports_unmodified(doc, update) -> None:
    before = copy.deepcopy(doc)
    assert apply_update(doc, update) is False
    assert doc == before


def test_setting_a_value_of_another_type_is_a_change() -> None:
    doc = {"a": 1}
    assert apply_update(doc, {"$set": {"a": 1.0}}) is True
    assert type(doc["a"]) is float


def test_set_on_insert_applies_only_when_inserting() -> None:
    doc = {"a": 1}
    assert apply_update(doc, {"$setOnInsert": {"b": 2}}, inserting=True)
    assert doc == {"a": 1, "b": 2}


def test_current_date() -> None:
    doc = {}
    before = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    apply_update(doc, {"$currentDate": {"d": True, "t": {"$type": "timestamp"}}})
    assert isinstance(doc["t"], Timestamp)
    assert doc["d"].tzinfo is None
    assert doc["d"].microsecond % 1000 == 0
    assert doc["d"] >= before.replace(microsecond=before.microsecond // 1000 * 1000)


def test_positional_operator_uses_the_matched_element() -> None:
    doc = {"_id": 1, "grades": [80, 85, 90]}
    assert apply_update(doc, {"$set": {"grades.$": 82}}, query={"grades": 85})
    assert doc["grades"] == [80, 82, 90]
    doc = {"items": [{"sku": "a", "n": 1}, {"sku": "b", "n": 1}]}
    assert apply_update(doc, {"$inc": {"items.$.n": 5}}, query={"items.sku": "b"})
    assert doc["items"] == [{"sku": "a", "n": 1}, {"sku": "b", "n": 6}]


def test_array_filters_select_elements() -> None:
    doc = {"grades": [95, 92, 90, 100, 102]}
    update = {"$set": {"grades.$[el]": 100}}
    assert apply_update(doc, update, array_filters=[{"el": {"$gte": 100}}])
    assert doc["grades"] == [95, 92, 90, 100, 100]
    doc = {"g": [{"grade": 80, "mean": 75}, {"grade": 85, "mean": 90}, {"grade": 85, "mean": 85}]}
    update = {"$set": {"g.$[e].mean": 100}}
    filters = [{"e.grade": {"$gte": 85}}]
    assert apply_update(doc, update, array_filters=filters)
    assert [g["mean"] for g in doc["g"]] == [75, 100, 100]


def test_nested_array_filters() -> None:
    doc = {"d": [{"items": [{"n": 1}, {"n": 5}]}, {"items": [{"n": 7}]}]}
    update = {"$inc": {"d.$[].items.$[big].n": 100}}
    assert apply_update(doc, update, array_filters=[{"big.n": {"$gt": 4}}])
    assert doc == {"d": [{"items": [{"n": 1}, {"n": 105}]}, {"items": [{"n": 107}]}]}


ERRORS = [
    ({"a": "x"}, {"$inc": {"a": 1}}, 14),
    ({"a": 1}, {"$inc": {"a": "1"}}, 14),
    ({"a": 1}, {"$mul": {"a": None}}, 14),
    ({"a": 1}, {"$push": {"a": 2}}, 2),
    ({"a": 1}, {"$addToSet": {"a": 2}}, 2),
    ({"a": 1}, {"$pull": {"a": 2}}, 2),
    ({"a": 1}, {"$pop": {"a": 1}}, 14),
    ({"a": [1]}, {"$pop": {"a": 2}}, 9),
    ({"a": 1}, {"$set": {"a.b": 2}}, 28),
    ({"a": [1]}, {"$set": {"a.b": 2}}, 28),
    ({"_id": 1}, {"$set": {"_id": 2}}, 66),
    ({"_id": 1}, {"$unset": {"_id": 1}}, 66),
    ({"_id": 1, "a": 2}, {"$rename": {"a": "_id"}}, 66),
    ({"a": 1}, {"$set": {"a": 1}, "$inc": {"a": 1}}, 40),
    ({"a": {"b": 1}}, {"$set": {"a": 1, "a.b": 2}}, 40),
    ({"a": 1}, {"$rename": {"a": "b"}, "$set": {"b": 1}}, 40),
    ({"a": 1}, {"$foo": {"a": 1}}, 9),
    ({"a": 1}, {"a": 2}, 9),
    ({"a": 1}, {"$set": 5}, 9),
    ({"a": 1}, {}, 9),
    ({"_id": 1}, [{"$set": {"_id": 2}}], 66),
    ({"a": 1}, {"$set": {"": 2}}, 56),
    ({"a": 1}, {"$set": {"a..b": 2}}, 56),
    ({"a": 1}, {"$set": {"$x": 2}}, 52),
    ({"a": 1}, {"$rename": {"a": 5}}, 2),
    ({"a": 1}, {"$rename": {"a": "a"}}, 2),
    ({"a": 1}, {"$rename": {"a": "a.b"}}, 2),
    ({"a": [{"b": 1}]}, {"$rename": {"a.0.b": "c"}}, 2),
    ({"a": 1}, {"$currentDate": {"a": "yes"}}, 2),
    ({"a": 1}, {"$currentDate": {"a": {"$type": "time"}}}, 2),
    ({"a": 1}, {"$pullAll": {"a": 1}}, 2),
    ({"a": []}, {"$push": {"a": {"$each": 1}}}, 2),
    ({"a": []}, {"$push": {"a": {"$each": [1], "$slice": 1.5}}}, 2),
    ({"a": []}, {"$push": {"a": {"$each": [1], "$slice": float("inf")}}}, 2),
    ({"a": []}, {"$push": {"a": {"$each": [1], "$position": "0"}}}, 2),
    ({"a": []}, {"$push": {"a": {"$each": [1], "$sort": {"x": 3}}}}, 2),
    ({"a": []}, {"$push": {"a": {"$each": [1], "$sort": 2}}}, 2),
    ({"a": []}, {"$push": {"a": {"$each": [1], "$bogus": 1}}}, 2),
    ({"a": []}, {"$addToSet": {"a": {"$each": [1], "$slice": 1}}}, 2),
    ({"a": [1]}, {"$set": {"a.$": 2}}, 2),
    ({"a": 1}, {"$set": {"a.$[]": 2}}, 2),
    ({"a": [1]}, {"$set": {"a.$[x]": 2}}, 2),
    ({"n": Int64(2**63 - 1)}, {"$inc": {"n": 1}}, 2),
]


@pytest.mark.parametrize(("doc", "update", "code"), ERRORS)
def test_invalid_updates_raise_write_error_and_leave_the_document(doc, update, code) -> None:
    before = copy.deepcopy(doc)
    with pytest.raises(WriteError) as info:
        apply_update(doc, update)
    assert info.value.code == code
    assert info.value.details["index"] == 0
    assert info.value.details["code"] == code
    assert info.value.details["errmsg"]
    assert doc == before


def test_failure_midway_leaves_the_document_untouched() -> None:
    doc = {"_id": 1, "a": 1, "z": "text"}
    with pytest.raises(WriteError):
        apply_update(doc, {"$set": {"a": 2, "b": 3}, "$inc": {"z": 1}})
    assert doc == {"_id": 1, "a": 1, "z": "text"}


@pytest.mark.parametrize(
    ("filters", "code"),
    [
        ([{"x": {"$gt": 1}}, {"y": 1}], 9),
        ([{"x": 1}, {"x": 2}], 9),
        ([{"X": 1}], 2),
    ],
)
def test_bad_array_filters(filters, code) -> None:
    with pytest.raises(WriteError) as info:
        validate_update(
            {"$set": {"a.$[x]": 1}} if filters[0].get("X") is None else {"$set": {"a.$[X]": 1}},
            filters,
        )
    assert info.value.code == code


def test_validate_update_touches_nothing_and_accepts_valid_updates() -> None:
    validate_update({"$set": {"a": 1}, "$inc": {"n": 1}, "$push": {"t": {"$each": [1]}}})
    with pytest.raises(WriteError):
        validate_update({"$inc": {"n": "x"}})


def test_compiled_update_applies_to_many_documents_without_sharing_values() -> None:
    apply = compile_update({"$set": {"tags": ["x"]}})
    first, second = {"_id": 1}, {"_id": 2}
    assert apply(first) and apply(second)
    first["tags"].append("y")
    assert second["tags"] == ["x"]


def test_replacement_keeps_id_first() -> None:
    old = {"_id": 7, "a": 1}
    assert apply_replacement(old, {"b": 2}) == {"_id": 7, "b": 2}
    assert list(apply_replacement(old, {"b": 2, "_id": 7})) == ["_id", "b"]


@pytest.mark.parametrize(
    ("replacement", "code"),
    [({"_id": 8, "a": 1}, 66), ({"_id": 7.0}, 66), ({"$set": {"a": 1}}, 2)],
)
def test_bad_replacements(replacement, code) -> None:
    with pytest.raises(WriteError) as info:
        apply_replacement({"_id": 7, "a": 1}, replacement)
    assert info.value.code == code


def test_replacement_truncates_datetimes() -> None:
    assert apply_replacement({"_id": 1}, {"d": WHEN})["d"].microsecond == 123000


@pytest.mark.parametrize(
    ("query", "seed"),
    [
        ({"a": 1, "b": {"$gt": 2}}, {"a": 1}),
        ({"a.b": 1, "a.c": 2}, {"a": {"b": 1, "c": 2}}),
        ({"$and": [{"x": 1}, {"y": {"$eq": 2}}]}, {"x": 1, "y": 2}),
        ({"$or": [{"x": 1}]}, {}),
        ({"_id": 5, "t": {"$in": [1, 2]}}, {"_id": 5}),
        ({"s": {"$regex": "^a"}}, {}),
        ({"d": {"k": 1}}, {"d": {"k": 1}}),
        (None, {}),
    ],
)
def test_upsert_seed_takes_the_filter_equalities(query, seed) -> None:
    assert upsert_seed(query) == seed


def test_upsert_seed_refuses_a_path_matched_twice() -> None:
    with pytest.raises(WriteError) as info:
        upsert_seed({"a": 1, "$and": [{"a": 2}]})
    assert info.value.code == 54


def test_upsert_flow_seed_then_update() -> None:
    query = {"user_id": "u1", "n": {"$gt": 0}}
    doc = upsert_seed(query)
    assert apply_update(
        doc, {"$set": {"x": 1}, "$setOnInsert": {"c": 0}}, query=query, inserting=True
    )
    assert doc == {"user_id": "u1", "c": 0, "x": 1}


def test_validate_update_without_filters_leaves_identifiers_to_apply() -> None:
    validate_update({"$set": {"a.$[x]": 1}})
    doc = {"a": [1, 5]}
    with pytest.raises(WriteError):
        apply_update(doc, {"$set": {"a.$[x]": 1}})
    assert apply_update(doc, {"$set": {"a.$[x]": 0}}, array_filters=[{"x": {"$gt": 2}}])
    assert doc == {"a": [1, 0]}
