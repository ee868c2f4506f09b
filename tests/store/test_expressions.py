"""Aggregation expressions, one table row per example from MongoDB's operator pages."""

import datetime
import math
from typing import Any

import pytest
from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.regex import Regex
from pymongo.errors import OperationFailure

from tessera.store.aggregation.expressions import evaluate, truthy
from tessera.store.values.paths import MISSING

D = datetime.datetime
DATE = D(2014, 1, 1, 8, 15, 39, 736000)  # a Wednesday
OID = ObjectId("5ab9cbfa31c2ab715d42129e")

DOC: dict[str, Any] = {
    "_id": 1,
    "price": 10,
    "fee": 2,
    "qty": 5,
    "ratio": 0.5,
    "name": "Hello World",
    "cafe": "cafétéria",
    "nothing": None,
    "date": DATE,
    "tags": ["a", "b", "c"],
    "nums": [1, 2, "x", None, 3.5],
    "empty": [],
    "items": [{"sku": "x", "n": 1}, {"sku": "y", "n": [2, 3]}, {"other": 0}, 7],
    "nested": [[{"sku": "z"}], {"sku": "w"}],
    "sub": {"a": 1, "b": {"c": 2}},
}


def ev(expr: Any, doc: dict[str, Any] | None = None) -> Any:
    return evaluate(expr, DOC if doc is None else doc)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # field paths and variables
        ("$price", 10),
        ("$sub.b.c", 2),
        ("$items.sku", ["x", "y"]),
        ("$items.n", [1, [2, 3]]),
        ("$nested.sku", [["z"], "w"]),
        ("$$ROOT.fee", 2),
        ("$$CURRENT.fee", 2),
        ("plain string", "plain string"),
        ({"$literal": "$price"}, "$price"),
        ({"$literal": {"$add": 1}}, {"$add": 1}),
        (["$price", "$missing"], [10, None]),
        (
            {"p": "$price", "m": "$missing", "r": "$$REMOVE", "s": {"$add": [1, 1]}},
            {"p": 10, "s": 2},
        ),
        (
            {
                "$let": {
                    "vars": {"total": {"$add": ["$price", "$fee"]}},
                    "in": {"$multiply": ["$$total", 2]},
                }
            },
            24,
        ),
        # arithmetic
        ({"$add": ["$price", "$fee"]}, 12),
        ({"$add": ["$price", "$ratio"]}, 10.5),
        ({"$add": ["$price", None]}, None),
        ({"$add": ["$price", "$missing"]}, None),
        ({"$add": ["$date", 3 * 24 * 3600 * 1000]}, D(2014, 1, 4, 8, 15, 39, 736000)),
        ({"$subtract": ["$price", "$fee"]}, 8),
        ({"$subtract": ["$date", 60000]}, D(2014, 1, 1, 8, 14, 39, 736000)),
        ({"$subtract": [D(2014, 1, 2), D(2014, 1, 1)]}, Int64(86_400_000)),
        ({"$subtract": ["$price", None]}, None),
        ({"$multiply": ["$price", "$qty", 0.5]}, 25.0),
        ({"$divide": [9, 2]}, 4.5),
        ({"$divide": [6, 3]}, 2.0),
        ({"$mod": [10, 3]}, 1),
        ({"$mod": [-5, 3]}, -2),
        ({"$mod": [5.5, 2]}, 1.5),
        ({"$abs": -1}, 1),
        ({"$abs": None}, None),
        ({"$ceil": 7.80}, 8.0),
        ({"$ceil": -2.8}, -2.0),
        ({"$floor": -2.8}, -3.0),
        ({"$floor": 5}, 5),
        ({"$round": [19.25, 1]}, 19.2),
        ({"$round": [28.73, 1]}, 28.7),
        ({"$round": [-45.39, 1]}, -45.4),
        ({"$round": [10.5, 0]}, 10.0),
        ({"$round": [11.5, 0]}, 12.0),
        ({"$round": [1234, -2]}, 1200),
        ({"$round": [None, 1]}, None),
        ({"$trunc": [19.25, 1]}, 19.2),
        ({"$trunc": [-45.39, 1]}, -45.3),
        ({"$trunc": [-2.7]}, -2.0),
        ({"$pow": [5, 0]}, 1),
        ({"$pow": [2, 10]}, 1024),
        ({"$pow": [2, -2]}, 0.25),
        ({"$sqrt": 25}, 5.0),
        ({"$exp": 0}, 1.0),
        ({"$ln": 1}, 0.0),
        ({"$log10": 100}, 2.0),
        ({"$log": [100, 10]}, 2.0),
        ({"$sin": 0}, 0.0),
        ({"$cos": 0.0}, 1.0),
        ({"$atan2": [1, 1]}, math.pi / 4),
        ({"$degreesToRadians": 180}, math.pi),
        ({"$radiansToDegrees": "$missing"}, None),
        # comparison: BSON order across types, missing below null
        ({"$eq": [1, 1.0]}, True),
        ({"$eq": [1, True]}, False),
        ({"$eq": [{"a": 1, "b": 2}, {"b": 2, "a": 1}]}, False),
        ({"$ne": ["$price", 10]}, False),
        ({"$gt": ["abc", 5]}, True),
        ({"$gt": ["$qty", 250]}, False),
        ({"$gte": ["$qty", 5]}, True),
        ({"$lt": [None, 0]}, True),
        ({"$lte": [[1, 2], [1, 3]]}, True),
        ({"$eq": ["$missing", None]}, False),
        ({"$lt": ["$missing", None]}, True),
        ({"$eq": ["$missing", "$alsoMissing"]}, True),
        ({"$cmp": ["$qty", 250]}, -1),
        ({"$cmp": ["$qty", 5]}, 0),
        ({"$cmp": ["b", "a"]}, 1),
        # boolean
        ({"$and": []}, True),
        ({"$and": [1, "green"]}, True),
        ({"$and": [True, 0]}, False),
        ({"$and": [True, "$missing"]}, False),
        ({"$or": []}, False),
        ({"$or": [None, 0, "$nothing", "x"]}, True),
        ({"$not": [[False]]}, False),
        ({"$not": [[]]}, False),
        ({"$not": [None]}, True),
        ({"$not": [0]}, True),
        # conditionals
        ({"$cond": {"if": {"$gte": ["$qty", 5]}, "then": 30, "else": 20}}, 30),
        ({"$cond": [{"$lt": ["$qty", 5]}, 30, 20]}, 20),
        ({"$cond": ["$missing", "yes", "no"]}, "no"),
        ({"$ifNull": ["$nothing", "Unspecified"]}, "Unspecified"),
        ({"$ifNull": ["$missing", "Unspecified"]}, "Unspecified"),
        ({"$ifNull": ["$price", "Unspecified"]}, 10),
        ({"$ifNull": ["$missing", "$nothing", "last"]}, "last"),
        (
            {
                "$switch": {
                    "branches": [
                        {"case": {"$gt": ["$qty", 10]}, "then": "big"},
                        {"case": {"$gt": ["$qty", 1]}, "then": "medium"},
                    ],
                    "default": "small",
                }
            },
            "medium",
        ),
        ({"$switch": {"branches": [{"case": False, "then": 1}], "default": "d"}}, "d"),
    ],
)
def test_core_arithmetic_comparison_and_logic(expr: Any, expected: Any) -> None:
    result = ev(expr)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ({"$concat": ["$name", " - ", "x"]}, "Hello World - x"),
        ({"$concat": ["a", "$missing"]}, None),
        ({"$concat": []}, ""),
        ({"$toLower": "ABC1"}, "abc1"),
        ({"$toUpper": "$name"}, "HELLO WORLD"),
        ({"$toUpper": None}, ""),
        ({"$toLower": 12}, "12"),
        ({"$substr": ["$name", 0, 5]}, "Hello"),
        ({"$substrBytes": ["abcde", 1, 2]}, "bc"),
        ({"$substrBytes": ["abcde", 1, -1]}, "bcde"),
        ({"$substrBytes": ["$cafe", 0, 3]}, "caf"),
        ({"$substrBytes": ["$cafe", 8, 3]}, "ria"),
        ({"$substrBytes": ["abc", 10, 2]}, ""),
        ({"$substrCP": ["$cafe", 0, 5]}, "cafét"),
        ({"$substrCP": ["$cafe", 5, 4]}, "éria"),
        ({"$substrCP": [None, 0, 2]}, ""),
        ({"$strLenCP": "$cafe"}, 9),
        ({"$strLenBytes": "$cafe"}, 11),
        ({"$strLenCP": ""}, 0),
        ({"$split": ["June-15-2013", "-"]}, ["June", "15", "2013"]),
        ({"$split": ["banana split", "a"]}, ["b", "n", "n", " split"]),
        ({"$split": ["Hello World", " "]}, ["Hello", "World"]),
        ({"$split": ["astronomical", "astro"]}, ["", "nomical"]),
        ({"$split": ["$missing", "-"]}, None),
        ({"$trim": {"input": "  ggggoodbyeeeee \n"}}, "ggggoodbyeeeee"),
        ({"$trim": {"input": "ggggoodbyeeeee", "chars": "ge"}}, "oodby"),
        ({"$ltrim": {"input": "ggggoodbyeeeee", "chars": "g"}}, "oodbyeeeee"),
        ({"$rtrim": {"input": "ggggoodbyeeeee  ", "chars": "e "}}, "ggggoodby"),
        ({"$trim": {"input": "$missing"}}, None),
        ({"$indexOfCP": ["cafeteria", "e"]}, 3),
        ({"$indexOfCP": ["$cafe", "é"]}, 3),
        ({"$indexOfCP": ["$cafe", "t"]}, 4),
        ({"$indexOfCP": ["foo.bar.fi", ".", 5]}, 7),
        ({"$indexOfCP": ["vanilla", "ll", 0, 2]}, -1),
        ({"$indexOfCP": ["vanilla", "nilla", 3, 1]}, -1),
        ({"$indexOfCP": ["vanilla", "x"]}, -1),
        ({"$indexOfCP": [None, "foo"]}, None),
        ({"$indexOfBytes": ["$cafe", "t"]}, 5),
        ({"$indexOfBytes": ["cafeteria", "e"]}, 3),
        ({"$regexMatch": {"input": "Abc", "regex": "abc", "options": "i"}}, True),
        ({"$regexMatch": {"input": "Abc", "regex": "abc"}}, False),
        ({"$regexMatch": {"input": "Abc", "regex": Regex("^a", "i")}}, True),
        ({"$regexMatch": {"input": "$missing", "regex": "a"}}, False),
        (
            {"$regexFind": {"input": "email: joe@x.org", "regex": "([a-z]+)@([a-z.]+)"}},
            {"match": "joe@x.org", "idx": 7, "captures": ["joe", "x.org"]},
        ),
        ({"$regexFind": {"input": "abc", "regex": "z"}}, None),
        (
            {"$regexFindAll": {"input": "a1b22", "regex": "[0-9]+"}},
            [{"match": "1", "idx": 1, "captures": []}, {"match": "22", "idx": 3, "captures": []}],
        ),
        ({"$strcasecmp": ["abc", "ABC"]}, 0),
        ({"$strcasecmp": ["a", "B"]}, -1),
        ({"$strcasecmp": ["b", None]}, 1),
        (
            {"$replaceOne": {"input": "blue paint blue", "find": "blue", "replacement": "red"}},
            "red paint blue",
        ),
        (
            {"$replaceAll": {"input": "blue paint blue", "find": "blue", "replacement": "red"}},
            "red paint red",
        ),
        ({"$replaceAll": {"input": None, "find": "a", "replacement": "b"}}, None),
    ],
)
def test_strings(expr: Any, expected: Any) -> None:
    assert ev(expr) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ({"$size": "$tags"}, 3),
        ({"$size": [["$price", "$fee"]]}, 2),
        ({"$arrayElemAt": ["$tags", 0]}, "a"),
        ({"$arrayElemAt": ["$tags", -1]}, "c"),
        ({"$arrayElemAt": ["$missing", 0]}, None),
        ({"x": {"$arrayElemAt": ["$tags", 15]}}, {}),
        ({"$first": "$tags"}, "a"),
        ({"$last": "$tags"}, "c"),
        ({"$first": "$missing"}, None),
        ({"x": {"$first": "$empty"}}, {}),
        ({"$in": ["b", "$tags"]}, True),
        ({"$in": [1.0, [1, 2]]}, True),
        ({"$in": ["$missing", [None]]}, False),
        ({"$indexOfArray": [["a", "abc"], "a"]}, 0),
        ({"$indexOfArray": [[1, 2, 3, 2], 2, 2]}, 3),
        ({"$indexOfArray": [[1, 2, 3], 2, 0, 1]}, -1),
        ({"$indexOfArray": ["$missing", 2]}, None),
        ({"$concatArrays": ["$tags", [1], []]}, ["a", "b", "c", 1]),
        ({"$concatArrays": ["$tags", "$missing"]}, None),
        ({"$reverseArray": [[1, 2, 3]]}, [3, 2, 1]),
        ({"$reverseArray": "$nothing"}, None),
        ({"$slice": ["$tags", 2]}, ["a", "b"]),
        ({"$slice": ["$tags", -2]}, ["b", "c"]),
        ({"$slice": [[1, 2, 3, 4], 1, 2]}, [2, 3]),
        ({"$slice": [[1, 2, 3], -2, 1]}, [2]),
        ({"$slice": [[1, 2, 3], 15, 2]}, []),
        ({"$slice": [[1, 2, 3], -15, 2]}, [1, 2]),
        ({"$slice": ["$missing", 1]}, None),
        ({"$isArray": "$tags"}, True),
        ({"$isArray": ["$name"]}, False),
        ({"$range": [0, 10, 2]}, [0, 2, 4, 6, 8]),
        ({"$range": [10, 0, -2]}, [10, 8, 6, 4, 2]),
        ({"$range": [0, 10, -1]}, []),
        ({"$range": [0, 3]}, [0, 1, 2]),
        ({"$filter": {"input": [1, 2, 3, 4], "as": "n", "cond": {"$gte": ["$$n", 3]}}}, [3, 4]),
        ({"$filter": {"input": [1, 2, 3, 4], "cond": {"$gte": ["$$this", 2]}, "limit": 1}}, [2]),
        ({"$filter": {"input": "$items", "cond": {"$eq": ["$$this.sku", "y"]}}}, [DOC["items"][1]]),
        ({"$filter": {"input": "$missing", "cond": True}}, None),
        ({"$map": {"input": [1, 2], "as": "x", "in": {"$multiply": ["$$x", "$price"]}}}, [10, 20]),
        ({"$map": {"input": "$items", "in": "$$this.sku"}}, ["x", "y", None, None]),
        ({"$map": {"input": None, "in": 1}}, None),
        (
            {
                "$reduce": {
                    "input": "$tags",
                    "initialValue": "",
                    "in": {"$concat": ["$$value", "$$this"]},
                }
            },
            "abc",
        ),
        (
            {
                "$reduce": {
                    "input": [1, 2, 3, 4],
                    "initialValue": {"sum": 5, "product": 2},
                    "in": {
                        "sum": {"$add": ["$$value.sum", "$$this"]},
                        "product": {"$multiply": ["$$value.product", "$$this"]},
                    },
                }
            },
            {"sum": 15, "product": 48},
        ),
        ({"$reduce": {"input": [], "initialValue": 7, "in": 0}}, 7),
        ({"$sum": "$nums"}, 6.5),
        ({"$sum": ["$price", "$fee", "$name"]}, 12),
        ({"$sum": "$missing"}, 0),
        ({"$avg": "$nums"}, 2.1666666666666665),
        ({"$avg": [1, 2]}, 1.5),
        ({"$avg": "$empty"}, None),
        ({"$min": "$nums"}, 1),
        ({"$min": [5, None, 3]}, 3),
        ({"$max": "$nums"}, "x"),
        ({"$max": "$empty"}, None),
        ({"$max": ["$missing", None]}, None),
        ({"$stdDevPop": [[1, 2, 3, 4]]}, math.sqrt(1.25)),
        ({"$setUnion": [[1, 2], [2, 3.0, 1]]}, [1, 2, 3.0]),
        ({"$setIntersection": [["a", "b", "a"], ["b", "a", "c"]]}, ["a", "b"]),
        ({"$setDifference": [["a", "b", "c"], ["b"]]}, ["a", "c"]),
        ({"$setEquals": [["a", "b", "a"], ["b", "a"]]}, True),
        ({"$setIsSubset": [["a"], ["b", "a"]]}, True),
        ({"$allElementsTrue": [[True, 1, "x"]]}, True),
        ({"$allElementsTrue": [[True, 0]]}, False),
        ({"$anyElementTrue": [[None, 0, False]]}, False),
        ({"$zip": {"inputs": [[1, 2], ["a", "b", "c"]]}}, [[1, "a"], [2, "b"]]),
        ({"$firstN": {"n": 2, "input": [5, None, 3]}}, [5, None]),
        ({"$lastN": {"n": 5, "input": "$tags"}}, ["a", "b", "c"]),
        ({"$maxN": {"n": 2, "input": [5, None, 3, 9]}}, [9, 5]),
        ({"$minN": {"n": 2, "input": [5, None, 3, 9]}}, [3, 5]),
        ({"$minN": {"n": 2, "input": "$missing"}}, None),
        (
            {"$zip": {"inputs": [[1], ["a", "b"]], "useLongestLength": True, "defaults": [0, "z"]}},
            [[1, "a"], [0, "b"]],
        ),
    ],
)
def test_arrays(expr: Any, expected: Any) -> None:
    assert ev(expr) == expected


def test_array_element_out_of_range_is_missing() -> None:
    assert ev({"$arrayElemAt": ["$tags", 3]}) is MISSING
    assert ev({"$last": "$empty"}) is MISSING


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ({"$type": "$price"}, "int"),
        ({"$type": "$ratio"}, "double"),
        ({"$type": Int64(1)}, "long"),
        ({"$type": 2**40}, "long"),
        ({"$type": "$name"}, "string"),
        ({"$type": "$missing"}, "missing"),
        ({"$type": "$nothing"}, "null"),
        ({"$type": "$tags"}, "array"),
        ({"$type": "$sub"}, "object"),
        ({"$type": OID}, "objectId"),
        ({"$type": "$date"}, "date"),
        ({"$type": True}, "bool"),
        ({"$type": Regex("a")}, "regex"),
        ({"$isNumber": "$price"}, True),
        ({"$isNumber": "5"}, False),
        ({"$toString": 2.5}, "2.5"),
        ({"$toString": 1}, "1"),
        ({"$toString": 2.0}, "2"),
        ({"$toString": True}, "true"),
        ({"$toString": D(2018, 3, 27, 16, 58, 51, 538000)}, "2018-03-27T16:58:51.538Z"),
        ({"$toString": OID}, "5ab9cbfa31c2ab715d42129e"),
        ({"$toString": "$missing"}, None),
        ({"$toInt": "5"}, 5),
        ({"$toInt": 5.6}, 5),
        ({"$toInt": -5.6}, -5),
        ({"$toInt": True}, 1),
        ({"$toInt": None}, None),
        ({"$toLong": D(2018, 3, 26, 4, 38, 28, 44000)}, Int64(1522039108044)),
        ({"$toLong": "-12"}, Int64(-12)),
        ({"$toDouble": "5.5"}, 5.5),
        ({"$toDouble": False}, 0.0),
        ({"$toDouble": D(1970, 1, 1, 0, 0, 1)}, 1000.0),
        ({"$toBool": 0}, False),
        ({"$toBool": 0.1}, True),
        ({"$toBool": ""}, True),
        ({"$toBool": "false"}, True),
        ({"$toBool": "$date"}, True),
        ({"$toBool": None}, None),
        ({"$toObjectId": "5ab9cbfa31c2ab715d42129e"}, OID),
        ({"$toDate": Int64(1522039108044)}, D(2018, 3, 26, 4, 38, 28, 44000)),
        ({"$toDate": 1253372036000.0}, D(2009, 9, 19, 14, 53, 56)),
        ({"$toDate": "2018-03-03"}, D(2018, 3, 3)),
        ({"$toDate": "2018-03-20T11:00:06+05:00"}, D(2018, 3, 20, 6, 0, 6)),
        ({"$toDate": OID}, D(2018, 3, 27, 4, 43, 38)),
        ({"$convert": {"input": "abc", "to": "int", "onError": -1}}, -1),
        ({"$convert": {"input": "$missing", "to": "int", "onNull": 0}}, 0),
        ({"$convert": {"input": "12", "to": 16}}, 12),
        ({"$convert": {"input": 1, "to": "bool"}}, True),
    ],
)
def test_types_and_conversion(expr: Any, expected: Any) -> None:
    result = ev(expr)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ({"$year": "$date"}, 2014),
        ({"$month": "$date"}, 1),
        ({"$dayOfMonth": "$date"}, 1),
        ({"$hour": "$date"}, 8),
        ({"$minute": "$date"}, 15),
        ({"$second": "$date"}, 39),
        ({"$millisecond": "$date"}, 736),
        ({"$dayOfYear": "$date"}, 1),
        ({"$dayOfWeek": "$date"}, 4),
        ({"$week": "$date"}, 0),
        ({"$week": D(2014, 1, 5)}, 1),
        ({"$isoWeek": "$date"}, 1),
        ({"$isoDayOfWeek": "$date"}, 3),
        ({"$year": ["$date"]}, 2014),
        ({"$year": "$missing"}, None),
        ({"$hour": {"date": "$date", "timezone": "+05:30"}}, 13),
        ({"$hour": {"date": "$date", "timezone": "America/New_York"}}, 3),
        ({"$dayOfMonth": {"date": "$date", "timezone": "America/New_York"}}, 1),
        ({"$year": {"date": D(2014, 1, 1, 2), "timezone": "-0500"}}, 2013),
        ({"$year": OID}, 2018),
        ({"$dateToString": {"date": "$date"}}, "2014-01-01T08:15:39.736Z"),
        ({"$dateToString": {"format": "%Y-%m-%d", "date": "$date"}}, "2014-01-01"),
        (
            {
                "$dateToString": {
                    "format": "%H:%M:%S:%L%z",
                    "date": "$date",
                    "timezone": "America/New_York",
                }
            },
            "03:15:39:736-0500",
        ),
        (
            {"$dateToString": {"format": "%Z", "date": "$date", "timezone": "America/New_York"}},
            "-300",
        ),
        (
            {"$dateToString": {"format": "%j %w %u %U %V %G %%", "date": "$date"}},
            "001 4 3 00 01 2014 %",
        ),
        ({"$dateToString": {"date": "$date", "timezone": "+01:00"}}, "2014-01-01T09:15:39.736"),
        ({"$dateToString": {"date": "$date", "timezone": "UTC"}}, "2014-01-01T08:15:39.736Z"),
        ({"$dateToString": {"date": "$date", "timezone": "+00:00"}}, "2014-01-01T08:15:39.736Z"),
        ({"$dateToString": {"date": "$missing", "onNull": "none"}}, "none"),
        ({"$dateToString": {"date": "$missing"}}, None),
        (
            {"$dateFromString": {"dateString": "2017-02-08T12:10:40.787"}},
            D(2017, 2, 8, 12, 10, 40, 787000),
        ),
        (
            {"$dateFromString": {"dateString": "2017-02-08", "timezone": "America/New_York"}},
            D(2017, 2, 8, 5),
        ),
        (
            {"$dateFromString": {"dateString": "15-06-2018", "format": "%d-%m-%Y"}},
            D(2018, 6, 15),
        ),
        ({"$dateFromString": {"dateString": "nope", "onError": "bad"}}, "bad"),
        ({"$dateFromParts": {"year": 2017, "month": 2, "day": 8, "hour": 12}}, D(2017, 2, 8, 12)),
        ({"$dateFromParts": {"year": 2017, "month": 14, "day": 1}}, D(2018, 2, 1)),
        (
            {
                "$dateFromParts": {
                    "year": 2016,
                    "month": 12,
                    "day": 31,
                    "hour": 23,
                    "timezone": "-05:00",
                }
            },
            D(2017, 1, 1, 4),
        ),
        (
            {"$dateToParts": {"date": "$date"}},
            {
                "year": 2014,
                "month": 1,
                "day": 1,
                "hour": 8,
                "minute": 15,
                "second": 39,
                "millisecond": 736,
            },
        ),
        ({"$dateAdd": {"startDate": D(2024, 1, 31), "unit": "month", "amount": 1}}, D(2024, 2, 29)),
        (
            {"$dateAdd": {"startDate": "$date", "unit": "hour", "amount": 2}},
            D(2014, 1, 1, 10, 15, 39, 736000),
        ),
        (
            {"$dateSubtract": {"startDate": D(2024, 3, 1), "unit": "day", "amount": 1}},
            D(2024, 2, 29),
        ),
        ({"$dateTrunc": {"date": "$date", "unit": "day"}}, D(2014, 1, 1)),
        ({"$dateTrunc": {"date": "$date", "unit": "hour", "binSize": 6}}, D(2014, 1, 1, 6)),
        ({"$dateTrunc": {"date": D(2014, 8, 20, 5), "unit": "quarter"}}, D(2014, 7, 1)),
        ({"$dateTrunc": {"date": D(2014, 8, 20, 5), "unit": "month", "binSize": 6}}, D(2014, 7, 1)),
        ({"$dateTrunc": {"date": D(2014, 8, 20, 5), "unit": "year"}}, D(2014, 1, 1)),
        ({"$dateTrunc": {"date": "$date", "unit": "week"}}, D(2013, 12, 29)),
        (
            {"$dateTrunc": {"date": "$date", "unit": "week", "startOfWeek": "monday"}},
            D(2013, 12, 30),
        ),
        (
            {"$dateTrunc": {"date": "$date", "unit": "day", "timezone": "America/New_York"}},
            D(2014, 1, 1, 5),
        ),
        ({"$dateTrunc": {"date": "$missing", "unit": "day"}}, None),
        (
            {"$dateDiff": {"startDate": D(2020, 12, 31), "endDate": D(2021, 1, 1), "unit": "year"}},
            1,
        ),
        (
            {"$dateDiff": {"startDate": D(2021, 1, 1), "endDate": D(2021, 3, 31), "unit": "month"}},
            2,
        ),
        (
            {
                "$dateDiff": {
                    "startDate": D(2021, 1, 1, 23),
                    "endDate": D(2021, 1, 2, 1),
                    "unit": "day",
                }
            },
            1,
        ),
        (
            {
                "$dateDiff": {
                    "startDate": D(2021, 1, 1),
                    "endDate": D(2021, 1, 1, 5, 59),
                    "unit": "hour",
                }
            },
            5,
        ),
    ],
)
def test_dates(expr: Any, expected: Any) -> None:
    assert ev(expr) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ({"$mergeObjects": [{"a": 1}, {"a": 2, "b": 1}, None, "$missing"]}, {"a": 2, "b": 1}),
        ({"$mergeObjects": ["$sub", {"z": 0}]}, {"a": 1, "b": {"c": 2}, "z": 0}),
        ({"$mergeObjects": []}, {}),
        ({"$objectToArray": "$sub"}, [{"k": "a", "v": 1}, {"k": "b", "v": {"c": 2}}]),
        ({"$objectToArray": "$missing"}, None),
        ({"$arrayToObject": [[["item", "abc"], ["qty", 25]]]}, {"item": "abc", "qty": 25}),
        ({"$arrayToObject": [[{"k": "item", "v": "abc"}, {"k": "item", "v": 2}]]}, {"item": 2}),
        ({"$arrayToObject": {"$literal": [["a", 1]]}}, {"a": 1}),
        ({"$getField": "price"}, 10),
        ({"$getField": {"field": "a.b", "input": {"$literal": {"a.b": 5}}}}, 5),
        ({"$getField": {"field": "c", "input": "$sub.b"}}, 2),
        ({"$getField": {"field": "x", "input": None}}, None),
        ({"$setField": {"field": "a.b", "input": {"x": 1}, "value": 2}}, {"x": 1, "a.b": 2}),
        ({"$setField": {"field": "x", "input": {"x": 1, "y": 2}, "value": "$$REMOVE"}}, {"y": 2}),
        ({"$unsetField": {"field": "x", "input": {"x": 1, "y": 2}}}, {"y": 2}),
        ({"$bsonSize": {"$literal": {"a": 1}}}, 12),
        ({"$bsonSize": "$missing"}, None),
        ({"$binarySize": "$cafe"}, 11),
        ({"$binarySize": b"abc"}, 3),
    ],
)
def test_objects(expr: Any, expected: Any) -> None:
    assert ev(expr) == expected


def test_user_variables_are_passed_in() -> None:
    assert evaluate({"$add": ["$$base", "$price"]}, DOC, {"base": 5}) == 15
    assert evaluate("$$obj.a", DOC, {"obj": {"a": [1]}}) == [1]


def test_now_is_a_naive_utc_datetime() -> None:
    now = ev("$$NOW")
    assert now.tzinfo is None
    assert abs(now - datetime.datetime.now(datetime.UTC).replace(tzinfo=None)).total_seconds() < 5


def test_missing_field_and_remove_are_missing() -> None:
    assert ev("$missing") is MISSING
    assert ev("$$REMOVE") is MISSING
    assert ev("$sub.b.c.d") is MISSING


def test_evaluate_does_not_change_the_document() -> None:
    doc = {"a": [3, 1, 2], "o": {"x": 1}}
    evaluate({"$setField": {"field": "x", "input": "$o", "value": 2}}, doc)
    evaluate({"$reverseArray": "$a"}, doc)
    assert doc == {"a": [3, 1, 2], "o": {"x": 1}}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (False, False),
        (None, False),
        (MISSING, False),
        (0, False),
        (0.0, False),
        (Int64(0), False),
        (True, True),
        (1, True),
        (-0.5, True),
        ("", True),
        ("false", True),
        ([], True),
        ({}, True),
        (DATE, True),
    ],
)
def test_truthy(value: Any, expected: bool) -> None:
    assert truthy(value) is expected


@pytest.mark.parametrize(
    ("expr", "code"),
    [
        ({"$foo": 1}, 168),
        ({"$add": 1, "$subtract": 2}, 15983),
        ("$$undefinedVar", 17276),
        ("$", 16872),
        ({"$divide": [1, 0]}, 2),
        ({"$mod": [1, 0]}, 16610),
        ({"$add": ["$date", "$date"]}, 16612),
        ({"$add": [1, "two"]}, 16554),
        ({"$subtract": [1, "$date"]}, 16556),
        ({"$multiply": [2, "x"]}, 16555),
        ({"$sqrt": -1}, 28714),
        ({"$pow": [0, -1]}, 28764),
        ({"$abs": [1, 2]}, 16020),
        ({"$round": [1, 2, 3]}, 28667),
        ({"$cond": {"then": 1, "else": 2}}, 17080),
        ({"$switch": {"branches": [{"case": False, "then": 1}]}}, 40066),
        ({"$concat": ["a", 1]}, 16702),
        ({"$strLenCP": 5}, 34471),
        ({"$substrBytes": ["$cafe", 0, 4]}, 28657),
        ({"$substrBytes": ["$cafe", 4, 1]}, 28656),
        ({"$split": ["a-b", ""]}, 40087),
        ({"$split": [5, "-"]}, 40085),
        ({"$size": "$missing"}, 17124),
        ({"$size": "$name"}, 17124),
        ({"$arrayElemAt": ["$name", 0]}, 28689),
        ({"$first": "$name"}, 28689),
        ({"$in": ["a", "$missing"]}, 40081),
        ({"$concatArrays": [[1], "x"]}, 28664),
        ({"$reverseArray": "x"}, 34435),
        ({"$slice": ["x", 1]}, 28724),
        ({"$slice": [[1, 2], 0, 0]}, 28729),
        ({"$range": [0, 10, 0]}, 34449),
        ({"$filter": {"input": "x", "cond": True}}, 28651),
        ({"$map": {"input": "x", "in": 1}}, 16883),
        ({"$reduce": {"input": "x", "initialValue": 0, "in": 1}}, 40080),
        ({"$indexOfArray": ["x", 1]}, 40090),
        ({"$mergeObjects": [{"a": 1}, 5]}, 40400),
        ({"$objectToArray": 5}, 40390),
        ({"$arrayToObject": "x"}, 40386),
        ({"$toInt": "abc"}, 241),
        ({"$toInt": 2**40}, 241),
        ({"$toObjectId": "xyz"}, 241),
        ({"$toDate": [[1]]}, 241),
        ({"$year": "$name"}, 16006),
        ({"$hour": {"date": "$date", "timezone": "Mars/Olympus"}}, 40485),
        ({"$dateToString": {"date": "$date", "format": "%Q"}}, 18536),
        ({"$setEquals": [[1]]}, 17045),
        ({"$acos": 2}, 50989),
        ({"$function": {"body": "", "args": [], "lang": "js"}}, 168),
        ({"$firstN": {"n": 0, "input": [1]}}, 5787908),
        ({"$maxN": {"n": 1, "input": "x"}}, 5788200),
        ({"$let": {"vars": {"Bad": 1}, "in": 1}}, 16867),
        ({"x": 1, "$add": 1}, 16410),
        ({"a.b": 1}, 16412),
    ],
)
def test_errors_carry_mongodb_codes(expr: Any, code: int) -> None:
    with pytest.raises(OperationFailure) as caught:
        ev(expr)
    assert caught.value.code == code
    assert caught.value.details["errmsg"]


def test_unknown_operator_message() -> None:
    with pytest.raises(OperationFailure, match=r"Unrecognized expression '\$foo'"):
        ev({"$foo": 1})
