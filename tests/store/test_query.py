"""Query filter semantics, from MongoDB's query operator documentation."""

import datetime
import re

import pytest
from bson.binary import Binary
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from pymongo.errors import OperationFailure

from tessera.store.query.filters import compile_filter
from tessera.store.update.positional import compile_positional

NAN = float("nan")
OID = ObjectId("65a000000000000000000001")
WHEN = datetime.datetime(2024, 5, 1, 12, 0)

CASES = [
    # Equality, and the number/bool boundary.
    ({"n": 1}, {"n": 1}, True),
    ({"n": 1}, {"n": 1.0}, True),
    ({"n": 1}, {"n": Int64(1)}, True),
    ({"n": 1}, {"n": Decimal128("1.0")}, True),
    ({"n": 1}, {"n": True}, False),
    ({"n": True}, {"n": 1}, False),
    ({"n": 0}, {"n": False}, False),
    ({"n": "1"}, {"n": 1}, False),
    ({"n": 1}, {}, False),
    ({"_id": OID}, {"_id": OID}, True),
    ({"_id": OID}, {"_id": str(OID)}, False),
    ({"d": WHEN}, {"d": WHEN}, True),
    ({"n": NAN}, {"n": NAN}, True),
    ({"b": Binary(b"x", 0)}, {"b": b"x"}, True),
    # null and missing.
    ({"a": None}, {}, True),
    ({"a": None}, {"a": None}, True),
    ({"a": None}, {"a": 0}, False),
    ({"a": None}, {"a": [1, None]}, True),
    ({"a": None}, {"a": []}, False),
    ({"a.b": None}, {"a": 5}, True),
    ({"a.b": None}, {"a": [{"b": 1}, {}]}, True),
    ({"a.b": None}, {"a": [{"b": 1}]}, False),
    ({"a.b": None}, {"a": [1, 2]}, False),
    ({"a": {"$exists": False}}, {"a": None}, False),
    ({"a": {"$exists": False}}, {}, True),
    ({"a": {"$exists": True}}, {"a": None}, True),
    ({"a": {"$exists": True}}, {"a": []}, True),
    ({"a": {"$exists": 0}}, {}, True),
    ({"a.b": {"$exists": True}}, {"a": [{"c": 1}, {"b": None}]}, True),
    ({"a.b": {"$exists": True}}, {"a": [1]}, False),
    ({"a": {"$ne": None}}, {}, False),
    ({"a": {"$ne": None}}, {"a": 0}, True),
    ({"a": {"$ne": None}}, {"a": [1, None]}, False),
    ({"a": {"$gte": None}}, {}, True),
    ({"a": {"$lt": None}}, {"a": 1}, False),
    # Arrays: a scalar condition matches an element or the whole array.
    ({"tags": "x"}, {"tags": ["y", "x"]}, True),
    ({"tags": "x"}, {"tags": ["y"]}, False),
    ({"tags": ["x", "y"]}, {"tags": ["x", "y"]}, True),
    ({"tags": ["x", "y"]}, {"tags": ["y", "x"]}, False),
    ({"tags": ["x"]}, {"tags": [["x"], "z"]}, True),
    ({"tags": "x"}, {"tags": [["x"]]}, False),
    ({"tags": []}, {"tags": []}, True),
    ({"n": {"$gt": 5}}, {"n": [1, 7]}, True),
    ({"n": {"$gt": 5, "$lt": 3}}, {"n": [1, 7]}, True),
    ({"n": {"$gt": 5, "$lt": 3}}, {"n": 4}, False),
    ({"n": {"$ne": 2}}, {"n": [1, 2]}, False),
    ({"n": {"$ne": 2}}, {"n": [1, 3]}, True),
    ({"n": {"$nin": [2, 4]}}, {"n": [1, 4]}, False),
    ({"n": {"$nin": [2, 4]}}, {"n": [1, 3]}, True),
    ({"n": {"$nin": [2]}}, {}, True),
    ({"n": {"$nin": [None]}}, {}, False),
    # Dotted paths.
    ({"a.b": 1}, {"a": {"b": 1}}, True),
    ({"a.b": 1}, {"a": [{"b": 2}, {"b": 1}]}, True),
    ({"a.b": 1}, {"a": [{"b": [3, 1]}]}, True),
    ({"a.b.c": 1}, {"a": [{"b": [{"c": 1}]}]}, True),
    ({"a.b": 1}, {"a": [[{"b": 1}]]}, False),
    ({"a.0": "x"}, {"a": ["x", "y"]}, True),
    ({"a.1": "x"}, {"a": ["x", "y"]}, False),
    ({"a.0.b": 1}, {"a": [{"b": 1}]}, True),
    ({"a.1.b": 1}, {"a": [{"b": 1}]}, False),
    ({"a.0": None}, {"a": [{"x": 1}]}, False),
    ({"a.b": 1}, {"a": 1}, False),
    # Embedded document equality is exact and field-order sensitive.
    ({"a": {"x": 1, "y": 2}}, {"a": {"x": 1, "y": 2}}, True),
    ({"a": {"x": 1, "y": 2}}, {"a": {"y": 2, "x": 1}}, False),
    ({"a": {"x": 1}}, {"a": {"x": 1, "y": 2}}, False),
    ({"a": {"x": 1}}, {"a": [{"x": 1}, 2]}, True),
    ({"a": {"$eq": {"x": 1}}}, {"a": {"x": 1.0}}, True),
    # Comparisons stay inside their type bracket.
    ({"n": {"$gt": 1}}, {"n": "2"}, False),
    ({"n": {"$lt": "a"}}, {"n": 1}, False),
    ({"n": {"$gt": 1}}, {"n": 1.5}, True),
    ({"n": {"$gte": 1}}, {"n": Int64(1)}, True),
    ({"n": {"$gt": 1}}, {"n": Decimal128("1.01")}, True),
    ({"n": {"$lt": 1}}, {"n": True}, False),
    ({"n": {"$gt": None}}, {"n": 1}, False),
    ({"n": {"$lt": 5}}, {"n": NAN}, False),
    ({"n": {"$gt": NAN}}, {"n": 1}, False),
    ({"n": {"$gte": NAN}}, {"n": NAN}, True),
    ({"s": {"$gt": "abc"}}, {"s": "abd"}, True),
    ({"s": {"$lte": "B"}}, {"s": "a"}, False),
    ({"d": {"$gt": WHEN}}, {"d": WHEN + datetime.timedelta(milliseconds=1)}, True),
    ({"d": {"$gt": WHEN}}, {"d": 10**15}, False),
    ({"o": {"$lt": OID}}, {"o": ObjectId("65a000000000000000000000")}, True),
    ({"a": {"$gt": {"x": 1}}}, {"a": {"x": 2}}, True),
    ({"a": {"$gt": [1]}}, {"a": [1, 2]}, True),
    ({"n": {"$gt": MinKey()}}, {"n": "anything"}, True),
    ({"n": {"$lt": MaxKey()}}, {"n": WHEN}, True),
    ({"n": {"$gt": 5}}, {}, False),
    # $in with values, null and regexes.
    ({"s": {"$in": ["a", "b"]}}, {"s": "b"}, True),
    ({"s": {"$in": ["a", "b"]}}, {"s": ["c", "a"]}, True),
    ({"s": {"$in": ["a", "b"]}}, {"s": "c"}, False),
    ({"s": {"$in": [1, "b"]}}, {"s": 1.0}, True),
    ({"s": {"$in": [None]}}, {}, True),
    ({"s": {"$in": []}}, {"s": 1}, False),
    ({"s": {"$in": [re.compile("^ab")]}}, {"s": "abc"}, True),
    ({"s": {"$in": [Regex("^AB", "i")]}}, {"s": "abc"}, True),
    ({"s": {"$in": [[1, 2]]}}, {"s": [1, 2]}, True),
    ({"s": {"$in": [{"k": 1}]}}, {"s": {"k": 1}}, True),
    # $regex.
    ({"s": {"$regex": "^ab"}}, {"s": "abc"}, True),
    ({"s": {"$regex": "^AB"}}, {"s": "abc"}, False),
    ({"s": {"$regex": "^AB", "$options": "i"}}, {"s": "abc"}, True),
    ({"s": {"$regex": "^b", "$options": "m"}}, {"s": "a\nb"}, True),
    ({"s": {"$regex": "a.b", "$options": "s"}}, {"s": "a\nb"}, True),
    ({"s": {"$regex": "a  b # comment", "$options": "x"}}, {"s": "ab"}, True),
    ({"s": {"$regex": Regex("^x", "i")}}, {"s": "XY"}, True),
    ({"s": re.compile("b")}, {"s": ["a", "abc"]}, True),
    ({"s": re.compile("1")}, {"s": 1}, False),
    ({"s": {"$regex": "b"}}, {"s": Regex("b")}, True),
    ({"s": {"$eq": re.compile("b")}}, {"s": "b"}, False),
    ({"s": {"$not": re.compile("^a")}}, {"s": "bcd"}, True),
    ({"s": {"$not": {"$regex": "^a"}}}, {"s": "abc"}, False),
    # $type.
    ({"v": {"$type": "string"}}, {"v": "x"}, True),
    ({"v": {"$type": 2}}, {"v": "x"}, True),
    ({"v": {"$type": "number"}}, {"v": Decimal128("1")}, True),
    ({"v": {"$type": "number"}}, {"v": True}, False),
    ({"v": {"$type": "int"}}, {"v": 5}, True),
    ({"v": {"$type": "long"}}, {"v": Int64(5)}, True),
    ({"v": {"$type": "long"}}, {"v": 2**40}, True),
    ({"v": {"$type": "double"}}, {"v": 5}, False),
    ({"v": {"$type": "null"}}, {"v": None}, True),
    ({"v": {"$type": "null"}}, {}, False),
    ({"v": {"$type": "array"}}, {"v": []}, True),
    ({"v": {"$type": "string"}}, {"v": [1, "x"]}, True),
    ({"v": {"$type": ["bool", "date"]}}, {"v": WHEN}, True),
    ({"v": {"$type": "objectId"}}, {"v": OID}, True),
    ({"v": {"$type": "object"}}, {"v": {}}, True),
    # $all, $size, $elemMatch, $mod.
    ({"t": {"$all": ["a", "b"]}}, {"t": ["b", "c", "a"]}, True),
    ({"t": {"$all": ["a", "b"]}}, {"t": ["a"]}, False),
    ({"t": {"$all": ["a"]}}, {"t": "a"}, True),
    ({"t": {"$all": []}}, {"t": []}, False),
    ({"t": {"$all": [["a"]]}}, {"t": [["a"], "b"]}, True),
    (
        {"t": {"$all": [{"$elemMatch": {"x": 1}}, {"$elemMatch": {"y": 2}}]}},
        {"t": [{"x": 1}, {"y": 2}]},
        True,
    ),
    ({"t": {"$size": 2}}, {"t": [1, 2]}, True),
    ({"t": {"$size": 0}}, {"t": []}, True),
    ({"t": {"$size": 1}}, {"t": "a"}, False),
    ({"t": {"$size": 1}}, {"t": [[1, 2]]}, True),
    ({"r": {"$elemMatch": {"$gte": 80, "$lt": 85}}}, {"r": [82, 90]}, True),
    ({"r": {"$elemMatch": {"$gte": 80, "$lt": 85}}}, {"r": [79, 90]}, False),
    ({"r": {"$gte": 80, "$lt": 85}}, {"r": [79, 90]}, True),
    (
        {"r": {"$elemMatch": {"p": "x", "s": {"$gte": 8}}}},
        {"r": [{"p": "x", "s": 1}, {"p": "y", "s": 9}]},
        False,
    ),
    ({"r.p": "x", "r.s": {"$gte": 8}}, {"r": [{"p": "x", "s": 1}, {"p": "y", "s": 9}]}, True),
    ({"r": {"$elemMatch": {"p": "x", "s": {"$gte": 8}}}}, {"r": [{"p": "x", "s": 9}]}, True),
    ({"r": {"$elemMatch": {"$ne": 1}}}, {"r": [1, 2]}, True),
    ({"r": {"$elemMatch": {"$ne": 1}}}, {"r": [1]}, False),
    ({"r": {"$elemMatch": {"$or": [{"a": 1}, {"b": 2}]}}}, {"r": [{"b": 2}]}, True),
    ({"r": {"$elemMatch": {"a": 1}}}, {"r": {"a": 1}}, False),
    ({"r": {"$elemMatch": {"$eq": 2}}}, {"r": [[2]]}, False),
    ({"q": {"$mod": [4, 0]}}, {"q": 8}, True),
    ({"q": {"$mod": [4, 0]}}, {"q": 8.9}, True),
    ({"q": {"$mod": [4, 1]}}, {"q": 8}, False),
    ({"q": {"$mod": [4, -1]}}, {"q": -5}, True),
    ({"q": {"$mod": [4, 0]}}, {"q": "8"}, False),
    ({"q": {"$mod": [4, 0]}}, {"q": [3, 12]}, True),
    # $not, $and, $or, $nor, $comment.
    ({"n": {"$not": {"$gt": 5}}}, {"n": 3}, True),
    ({"n": {"$not": {"$gt": 5}}}, {}, True),
    ({"n": {"$not": {"$gt": 5}}}, {"n": [3, 9]}, False),
    ({"n": {"$not": {"$gt": 5}}}, {"n": "x"}, True),
    ({"$and": [{"a": 1}, {"b": 2}]}, {"a": 1, "b": 2}, True),
    ({"$and": [{"a": 1}, {"b": 2}]}, {"a": 1}, False),
    ({"$or": [{"a": 1}, {"b": 2}]}, {"b": 2}, True),
    ({"$or": [{"a": 1}, {"b": 2}]}, {"b": 3}, False),
    ({"$nor": [{"a": 1}, {"b": 2}]}, {"b": 3}, True),
    ({"$nor": [{"a": 1}, {"b": 2}]}, {"a": 1}, False),
    ({"a": 1, "$comment": "why"}, {"a": 1}, True),
    ({}, {"anything": 1}, True),
    ({"a": {"$eq": 1, "$ne": 2}}, {"a": 1}, True),
]


@pytest.mark.parametrize(("query", "doc", "expected"), CASES)
def test_filter_semantics(query, doc, expected) -> None:
    assert compile_filter(query)(doc) is expected


def test_none_filter_matches_everything() -> None:
    assert compile_filter(None)({"a": 1})


def test_expr_compares_fields_of_the_document() -> None:
    match = compile_filter({"$expr": {"$gt": ["$spent", "$budget"]}})
    assert match({"spent": 10, "budget": 5})
    assert not match({"spent": 1, "budget": 5})


def test_expr_truthiness() -> None:
    assert not compile_filter({"$expr": 0})({})
    assert compile_filter({"$expr": "$a"})({"a": "x"})
    assert not compile_filter({"$expr": "$missing"})({})


ERRORS = [
    ({"a": {"$foo": 1}}, 2, "unknown operator: \\$foo"),
    ({"$foo": [{"a": 1}]}, 2, "unknown top level operator: \\$foo"),
    ({"$where": "this.a == 1"}, 2, "\\$where is not supported"),
    ({"$and": []}, 2, "non-empty array"),
    ({"$or": {"a": 1}}, 2, "non-empty array"),
    ({"$or": [1]}, 2, "must be objects"),
    ({"a": {"$in": 5}}, 2, "\\$in needs an array"),
    ({"a": {"$nin": "x"}}, 2, "\\$nin needs an array"),
    ({"a": {"$in": [{"$gt": 1}]}}, 2, "cannot nest"),
    ({"a": {"$size": -1}}, 2, "may not be negative"),
    ({"a": {"$size": 1.5}}, 2, "whole number"),
    ({"a": {"$size": "1"}}, 2, "\\$size needs a number"),
    ({"a": {"$mod": [0, 1]}}, 2, "divisor cannot be 0"),
    ({"a": {"$mod": [1]}}, 2, "not enough elements"),
    ({"a": {"$mod": [1, 2, 3]}}, 2, "too many elements"),
    ({"a": {"$type": "strin"}}, 2, "Unknown type name alias"),
    ({"a": {"$type": 99}}, 2, "Invalid numerical type code"),
    ({"a": {"$not": {}}}, 2, "\\$not cannot be empty"),
    ({"a": {"$not": 5}}, 2, "\\$not needs a regex"),
    ({"a": {"$elemMatch": 5}}, 2, "\\$elemMatch needs an Object"),
    ({"a": {"$all": 5}}, 2, "\\$all needs an array"),
    ({"a": {"$regex": "("}}, 51091, "Regular expression is invalid"),
    ({"a": {"$regex": "a", "$options": "q"}}, 51108, "invalid flag"),
    ({"a": {"$regex": Regex("a", "i"), "$options": "m"}}, 51075, "both"),
    ({"a": {"$regex": 5}}, 2, "\\$regex has to be a string"),
    ({"a": {"$options": "i"}}, 2, "\\$options needs a \\$regex"),
    ({"a": {"$gt": 1, "b": 2}}, 2, "unknown operator: b"),
]


@pytest.mark.parametrize(("query", "code", "message"), ERRORS)
def test_malformed_filters_raise_operation_failure(query, code, message) -> None:
    with pytest.raises(OperationFailure, match=message) as info:
        compile_filter(query)
    assert info.value.code == code


@pytest.mark.parametrize(
    ("query", "doc", "index"),
    [
        ({"grades": 85}, {"grades": [80, 85, 90]}, 1),
        ({"grades": {"$gte": 85}}, {"grades": [80, 85, 90]}, 1),
        ({"items.sku": "b"}, {"items": [{"sku": "a"}, {"sku": "b"}]}, 1),
        ({"items": {"$elemMatch": {"q": {"$gt": 1}}}}, {"items": [{"q": 1}, {"q": 5}]}, 1),
        ({"_id": 1, "a.b.c": 2}, {"_id": 1, "a": {"b": [{"c": 1}, {"c": 2}]}}, 1),
        ({"$and": [{"x": 1}, {"t": "z"}]}, {"x": 1, "t": ["y", "z"]}, 1),
        ({"x": 1}, {"x": 1}, None),
    ],
)
def test_positional_index_is_first_matching_element(query, doc, index) -> None:
    assert compile_filter(query)(doc)
    assert compile_positional(query)(doc) == index
