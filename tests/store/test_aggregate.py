"""Aggregation pipelines over lists of documents, from the examples on MongoDB's stage pages."""

import copy
import datetime
from decimal import Decimal
from typing import Any

import pytest
from bson.decimal128 import Decimal128
from pymongo.errors import OperationFailure

from tessera.store.aggregation.aggregate import (
    apply_update_pipeline,
    pipeline_collections,
    run_pipeline,
    split_leading_match,
)

D = datetime.datetime

SALES = [
    {"_id": 1, "item": "abc", "price": 10, "quantity": 2, "date": D(2014, 3, 1, 8)},
    {"_id": 2, "item": "jkl", "price": 20, "quantity": 1, "date": D(2014, 3, 1, 9)},
    {"_id": 3, "item": "xyz", "price": 5, "quantity": 10, "date": D(2014, 3, 15, 9)},
    {"_id": 4, "item": "xyz", "price": 5, "quantity": 20, "date": D(2014, 4, 4, 11)},
    {"_id": 5, "item": "abc", "price": 10, "quantity": 10, "date": D(2014, 4, 4, 21)},
]

INVENTORY = [
    {"_id": 1, "sku": "almonds", "description": "product 1", "instock": 120},
    {"_id": 2, "sku": "bread", "description": "product 2", "instock": 80},
    {"_id": 3, "sku": "cashews", "description": "product 3", "instock": 60},
    {"_id": 4, "sku": "pecans", "description": "product 4", "instock": 70},
    {"_id": 5, "sku": None, "description": "Incomplete"},
    {"_id": 6},
]

ORDERS = [
    {"_id": 1, "item": "almonds", "price": 12, "quantity": 2},
    {"_id": 2, "item": "pecans", "price": 20, "quantity": 1},
    {"_id": 3},
]

COLLECTIONS = {"inventory": INVENTORY, "orders": ORDERS, "sales": SALES}


def run(docs: list[dict[str, Any]], pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return run_pipeline(docs, pipeline, resolve=lambda name: COLLECTIONS.get(name, []))


def ids(docs: list[dict[str, Any]]) -> list[Any]:
    return [doc["_id"] for doc in docs]


# --- $match, $sort, $skip, $limit, $count, $sample ---------------------------------------------


def test_match_uses_query_semantics() -> None:
    assert ids(run(SALES, [{"$match": {"item": "xyz"}}])) == [3, 4]
    assert ids(run(SALES, [{"$match": {"$expr": {"$gt": ["$quantity", "$price"]}}}])) == [3, 4]
    assert run(SALES, [{"$match": {"nope": {"$exists": True}}}]) == []


def test_sort_is_stable_and_multi_key() -> None:
    out = run(SALES, [{"$sort": {"price": -1, "quantity": 1}}])
    assert ids(out) == [2, 1, 5, 3, 4]
    assert ids(run(SALES, [{"$sort": {"item": 1}}])) == [1, 5, 2, 3, 4]


def test_sort_follows_bson_order_across_types() -> None:
    docs = [{"_id": i, "v": v} for i, v in enumerate(["a", 2, None, {"x": 1}, 1.5, True])]
    docs.append({"_id": 6})
    assert ids(run(docs, [{"$sort": {"v": 1, "_id": 1}}])) == [2, 6, 4, 1, 0, 3, 5]


def test_skip_and_limit() -> None:
    assert ids(run(SALES, [{"$skip": 3}])) == [4, 5]
    assert ids(run(SALES, [{"$limit": 2}])) == [1, 2]
    assert ids(run(SALES, [{"$skip": 1}, {"$limit": 2}])) == [2, 3]
    assert run(SALES, [{"$skip": 10}]) == []


def test_count() -> None:
    assert run(SALES, [{"$match": {"price": {"$gt": 5}}}, {"$count": "n"}]) == [{"n": 3}]
    assert run([], [{"$count": "n"}]) == []


def test_sample_returns_distinct_input_documents() -> None:
    out = run(SALES, [{"$sample": {"size": 3}}])
    assert len(out) == 3
    assert len(set(ids(out))) == 3
    assert set(ids(out)) <= set(ids(SALES))
    assert len(run(SALES, [{"$sample": {"size": 50}}])) == 5


# --- $project, $addFields/$set, $unset ----------------------------------------------------------

BOOK = {
    "_id": 1,
    "title": "abc123",
    "isbn": "0001122223334",
    "author": {"last": "zzz", "first": "aaa", "middle": ""},
    "copies": 5,
    "stop": [{"title": "a", "n": 1}, {"title": "b", "n": 2}, 3],
}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"title": 1, "author": 1}, {"_id": 1, "title": "abc123", "author": BOOK["author"]}),
        ({"_id": 0, "title": 1}, {"title": "abc123"}),
        ({"title": True, "copies": 2}, {"_id": 1, "title": "abc123", "copies": 5}),
        ({"author.last": 1}, {"_id": 1, "author": {"last": "zzz"}}),
        (
            {"author": {"first": 1, "last": 1}},
            {"_id": 1, "author": {"last": "zzz", "first": "aaa"}},
        ),
        ({"stop.title": 1, "_id": 0}, {"stop": [{"title": "a"}, {"title": "b"}]}),
        ({"_id": 1}, {"_id": 1}),
        ({"nothing": 1}, {"_id": 1}),
        (
            {"title": 1, "isbn": {"prefix": {"$substr": ["$isbn", 0, 3]}}, "n": {"$add": [1, 1]}},
            {"_id": 1, "title": "abc123", "isbn": {"prefix": "000"}, "n": 2},
        ),
        (
            {"_id": 0, "label": "literal text", "f": "$author.first"},
            {"label": "literal text", "f": "aaa"},
        ),
        ({"_id": 0, "lit": {"$literal": 1}}, {"lit": 1}),
        ({"_id": 0, "pair": ["$copies", "$missing"]}, {"pair": [5, None]}),
        (
            {
                "_id": 0,
                "author.first": 1,
                "author.middle": {
                    "$cond": {
                        "if": {"$eq": ["", "$author.middle"]},
                        "then": "$$REMOVE",
                        "else": "$author.middle",
                    }
                },
            },
            {"author": {"first": "aaa"}},
        ),
        ({"_id": 0, "m": "$missing"}, {}),
        ({"copies": 1, "_id": "$title"}, {"_id": "abc123", "copies": 5}),
        # exclusion
        (
            {"author": 0, "stop": 0},
            {"_id": 1, "title": "abc123", "isbn": "0001122223334", "copies": 5},
        ),
        (
            {"_id": 0, "author.first": 0, "stop.n": 0, "isbn": 0},
            {
                "title": "abc123",
                "author": {"last": "zzz", "middle": ""},
                "copies": 5,
                "stop": [{"title": "a"}, {"title": "b"}, 3],
            },
        ),
        ({"_id": 0}, {k: v for k, v in BOOK.items() if k != "_id"}),
    ],
)
def test_project(spec: dict[str, Any], expected: dict[str, Any]) -> None:
    (out,) = run([BOOK], [{"$project": spec}])
    assert out == expected
    assert list(out) == list(expected)


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ({}, 51272),
        ({"title": 1, "isbn": 0}, 31254),
        ({"isbn": 0, "t": {"$toUpper": "$title"}}, 31252),
        ({"a": 1, "a.b": 1}, 31250),
        ({"$bad": 1}, 16410),
        ({"a": {}}, 51270),
    ],
)
def test_project_errors(spec: dict[str, Any], code: int) -> None:
    with pytest.raises(OperationFailure) as caught:
        run([BOOK], [{"$project": spec}])
    assert caught.value.code == code


SCORES = [
    {"_id": 1, "student": "Maya", "homework": [10, 5, 10], "quiz": [10, 8], "extraCredit": 0},
    {"_id": 2, "student": "Ryan", "homework": [5, 6, 5], "quiz": [8, 8], "extraCredit": 8},
]


def test_add_fields_from_documentation() -> None:
    out = run(
        SCORES,
        [
            {
                "$addFields": {
                    "totalHomework": {"$sum": "$homework"},
                    "totalQuiz": {"$sum": "$quiz"},
                }
            },
            {
                "$addFields": {
                    "totalScore": {"$add": ["$totalHomework", "$totalQuiz", "$extraCredit"]}
                }
            },
        ],
    )
    assert [(d["totalHomework"], d["totalQuiz"], d["totalScore"]) for d in out] == [
        (25, 18, 43),
        (16, 16, 40),
    ]
    assert list(out[0]) == [*SCORES[0], "totalHomework", "totalQuiz", "totalScore"]


@pytest.mark.parametrize(
    ("doc", "spec", "expected"),
    [
        (
            {"_id": 1, "specs": {"doors": 4, "wheels": 4}},
            {"specs.fuel_type": "unleaded"},
            {"_id": 1, "specs": {"doors": 4, "wheels": 4, "fuel_type": "unleaded"}},
        ),
        ({"_id": 1, "dogs": 10, "cats": 5}, {"cats": 20}, {"_id": 1, "dogs": 10, "cats": 20}),
        (
            {"_id": 1, "item": "tangerine"},
            {"_id": "$item", "item": "fruit"},
            {"_id": "tangerine", "item": "fruit"},
        ),
        ({"_id": 1, "a": 1, "b": 2}, {"a": "$b", "b": "$a"}, {"_id": 1, "a": 2, "b": 1}),
        ({"_id": 1, "a": 1, "b": 2}, {"a": "$$REMOVE", "c": "$missing"}, {"_id": 1, "b": 2}),
        ({"_id": 1, "s": 5}, {"s.x": 1}, {"_id": 1, "s": {"x": 1}}),
        ({"_id": 1}, {"n": {"deep": "$_id"}}, {"_id": 1, "n": {"deep": 1}}),
        (
            {"_id": 1, "arr": [{"a": 1}, {"a": 2}]},
            {"arr.b": "$_id"},
            {"_id": 1, "arr": [{"a": 1, "b": 1}, {"a": 2, "b": 1}]},
        ),
        (
            {"_id": 1, "homework": [10, 5]},
            {"homework": {"$concatArrays": ["$homework", [7]]}},
            {"_id": 1, "homework": [10, 5, 7]},
        ),
    ],
)
def test_add_fields_and_set(
    doc: dict[str, Any], spec: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert run([doc], [{"$addFields": spec}]) == [expected]
    assert run([doc], [{"$set": spec}]) == [expected]


def test_unset() -> None:
    assert run([BOOK], [{"$unset": "copies"}])[0] == {
        k: v for k, v in BOOK.items() if k != "copies"
    }
    out = run([BOOK], [{"$unset": ["isbn", "author.first", "stop", "_id"]}])
    assert out == [{"title": "abc123", "author": {"last": "zzz", "middle": ""}, "copies": 5}]
    with pytest.raises(OperationFailure):
        run([BOOK], [{"$unset": 1}])


def test_replace_root_and_replace_with() -> None:
    people = [
        {"_id": 1, "name": "Arlene", "age": 34, "pets": {"dogs": 2, "cats": 1}},
        {"_id": 2, "name": "Sam", "age": 41, "pets": {"cats": 1, "fish": 3}},
        {"_id": 3, "name": "Maria", "age": 25},
    ]
    new_root = {"$mergeObjects": [{"dogs": 0, "cats": 0, "birds": 0, "fish": 0}, "$pets"]}
    expected = [
        {"dogs": 2, "cats": 1, "birds": 0, "fish": 0},
        {"dogs": 0, "cats": 1, "birds": 0, "fish": 3},
        {"dogs": 0, "cats": 0, "birds": 0, "fish": 0},
    ]
    assert run(people, [{"$replaceRoot": {"newRoot": new_root}}]) == expected
    assert run(people, [{"$replaceWith": new_root}]) == expected
    with pytest.raises(OperationFailure) as caught:
        run(people, [{"$replaceRoot": {"newRoot": "$pets"}}])
    assert caught.value.code == 40228


# --- $group, $sortByCount, $bucket ----------------------------------------------------------------


def test_group_by_item_with_accumulators() -> None:
    out = run(
        SALES,
        [
            {
                "$group": {
                    "_id": "$item",
                    "total": {"$sum": {"$multiply": ["$price", "$quantity"]}},
                    "avgQty": {"$avg": "$quantity"},
                    "count": {"$sum": 1},
                    "n": {"$count": {}},
                    "minQty": {"$min": "$quantity"},
                    "maxQty": {"$max": "$quantity"},
                    "first": {"$first": "$_id"},
                    "last": {"$last": "$_id"},
                    "quantities": {"$push": "$quantity"},
                    "prices": {"$addToSet": "$price"},
                }
            },
            {"$sort": {"_id": 1}},
        ],
    )
    assert out == [
        {
            "_id": "abc",
            "total": 120,
            "avgQty": 6.0,
            "count": 2,
            "n": 2,
            "minQty": 2,
            "maxQty": 10,
            "first": 1,
            "last": 5,
            "quantities": [2, 10],
            "prices": [10],
        },
        {
            "_id": "jkl",
            "total": 20,
            "avgQty": 1.0,
            "count": 1,
            "n": 1,
            "minQty": 1,
            "maxQty": 1,
            "first": 2,
            "last": 2,
            "quantities": [1],
            "prices": [20],
        },
        {
            "_id": "xyz",
            "total": 150,
            "avgQty": 15.0,
            "count": 2,
            "n": 2,
            "minQty": 10,
            "maxQty": 20,
            "first": 3,
            "last": 4,
            "quantities": [10, 20],
            "prices": [5],
        },
    ]


def test_group_null_id_covers_everything() -> None:
    out = run(SALES, [{"$group": {"_id": None, "count": {"$sum": 1}, "avg": {"$avg": "$price"}}}])
    assert out == [{"_id": None, "count": 5, "avg": 10.0}]
    assert run([], [{"$group": {"_id": None, "count": {"$sum": 1}}}]) == []


def test_group_by_expression_document() -> None:
    out = run(
        SALES,
        [
            {
                "$group": {
                    "_id": {"month": {"$month": "$date"}, "year": {"$year": "$date"}},
                    "n": {"$sum": 1},
                }
            },
            {"$sort": {"_id.month": 1}},
        ],
    )
    assert out == [
        {"_id": {"month": 3, "year": 2014}, "n": 3},
        {"_id": {"month": 4, "year": 2014}, "n": 2},
    ]


def test_group_keys_use_mongodb_equality() -> None:
    docs = [
        {"k": 1, "v": 1},
        {"k": 1.0, "v": 2},
        {"k": True, "v": 3},
        {"v": 4},
        {"k": None, "v": 5},
        {"k": {"a": 1, "b": 2}, "v": 6},
        {"k": {"b": 2, "a": 1}, "v": 7},
    ]
    out = run(docs, [{"$group": {"_id": "$k", "vs": {"$push": "$v"}}}])
    assert [(d["_id"], d["vs"]) for d in out] == [
        (1, [1, 2]),
        (True, [3]),
        (None, [4, 5]),
        ({"a": 1, "b": 2}, [6]),
        ({"b": 2, "a": 1}, [7]),
    ]


def test_group_accumulators_skip_what_mongodb_skips() -> None:
    docs = [
        {"g": 1, "v": 5},
        {"g": 1, "v": "text"},
        {"g": 1, "v": None},
        {"g": 1},
        {"g": 1, "v": [1, 2]},
    ]
    (out,) = run(
        docs,
        [
            {
                "$group": {
                    "_id": "$g",
                    "sum": {"$sum": "$v"},
                    "avg": {"$avg": "$v"},
                    "min": {"$min": "$v"},
                    "max": {"$max": "$v"},
                    "push": {"$push": "$v"},
                    "set": {"$addToSet": "$v"},
                    "first": {"$first": "$missing"},
                }
            }
        ],
    )
    assert out["sum"] == 5
    assert out["avg"] == 5.0
    assert out["min"] == 5
    assert out["max"] == [1, 2]
    assert out["push"] == [5, "text", None, [1, 2]]
    assert out["set"] == [5, "text", None, [1, 2]]
    assert out["first"] is None
    empty = run(
        [{"g": 1}],
        [{"$group": {"_id": "$g", "a": {"$avg": "$v"}, "m": {"$min": "$v"}, "s": {"$sum": "$v"}}}],
    )
    assert empty == [{"_id": 1, "a": None, "m": None, "s": 0}]


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ({"total": {"$sum": 1}}, 15955),
        ({"_id": None, "x": {"$median": "$a"}}, 15952),
        ({"_id": None, "x": 1}, 40234),
        ({"_id": None, "x": {"$sum": 1, "$avg": 1}}, 40234),
        ({"_id": None, "x": {"$sum": [1, 2]}}, 40237),
        ({"_id": None, "a.b": {"$sum": 1}}, 40235),
    ],
)
def test_group_errors(spec: dict[str, Any], code: int) -> None:
    with pytest.raises(OperationFailure) as caught:
        run(SALES, [{"$group": spec}])
    assert caught.value.code == code


def test_sort_by_count() -> None:
    docs = [{"tags": ["painting", "satire"]}, {"tags": ["woodcut", "satire"]}, {"tags": ["satire"]}]
    out = run(docs, [{"$unwind": "$tags"}, {"$sortByCount": "$tags"}])
    assert out[0] == {"_id": "satire", "count": 3}
    assert sorted(d["_id"] for d in out[1:]) == ["painting", "woodcut"]
    with pytest.raises(OperationFailure) as caught:
        run(docs, [{"$sortByCount": "tags"}])
    assert caught.value.code == 40148


def test_bucket() -> None:
    out = run(
        SALES,
        [
            {
                "$bucket": {
                    "groupBy": "$quantity",
                    "boundaries": [0, 5, 15],
                    "default": "Other",
                    "output": {"count": {"$sum": 1}, "items": {"$push": "$item"}},
                }
            }
        ],
    )
    assert out == [
        {"_id": 0, "count": 2, "items": ["abc", "jkl"]},
        {"_id": 5, "count": 2, "items": ["xyz", "abc"]},
        {"_id": "Other", "count": 1, "items": ["xyz"]},
    ]
    with pytest.raises(OperationFailure):
        run(SALES, [{"$bucket": {"groupBy": "$quantity", "boundaries": [0, 5]}}])


# --- $unwind --------------------------------------------------------------------------------------

CLOTHES = [
    {"_id": 1, "item": "Shirt", "sizes": ["S", "M", "L"]},
    {"_id": 2, "item": "Shorts", "sizes": []},
    {"_id": 3, "item": "Hat", "sizes": "M"},
    {"_id": 4, "item": "Gloves"},
    {"_id": 5, "item": "Scarf", "sizes": None},
]


def test_unwind_string_form() -> None:
    out = run(CLOTHES, [{"$unwind": "$sizes"}])
    assert [(d["_id"], d["sizes"]) for d in out] == [(1, "S"), (1, "M"), (1, "L"), (3, "M")]
    assert out[0] == {"_id": 1, "item": "Shirt", "sizes": "S"}


def test_unwind_preserve_and_index() -> None:
    out = run(
        CLOTHES,
        [
            {
                "$unwind": {
                    "path": "$sizes",
                    "includeArrayIndex": "idx",
                    "preserveNullAndEmptyArrays": True,
                }
            }
        ],
    )
    assert out == [
        {"_id": 1, "item": "Shirt", "sizes": "S", "idx": 0},
        {"_id": 1, "item": "Shirt", "sizes": "M", "idx": 1},
        {"_id": 1, "item": "Shirt", "sizes": "L", "idx": 2},
        {"_id": 2, "item": "Shorts", "idx": None},
        {"_id": 3, "item": "Hat", "sizes": "M", "idx": None},
        {"_id": 4, "item": "Gloves", "idx": None},
        {"_id": 5, "item": "Scarf", "sizes": None, "idx": None},
    ]


def test_unwind_embedded_path_leaves_input_alone() -> None:
    docs = [{"_id": 1, "a": {"b": [1, 2], "c": 0}}]
    before = copy.deepcopy(docs)
    assert run(docs, [{"$unwind": "$a.b"}]) == [
        {"_id": 1, "a": {"b": 1, "c": 0}},
        {"_id": 1, "a": {"b": 2, "c": 0}},
    ]
    assert docs == before


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ("sizes", 28818),
        ({"path": "sizes"}, 28818),
        ({}, 28812),
        (5, 15981),
        ({"path": "$a", "x": 1}, 28811),
        ({"path": "$a", "includeArrayIndex": "$i"}, 28822),
        ({"path": "$a", "preserveNullAndEmptyArrays": 1}, 28809),
    ],
)
def test_unwind_errors(spec: Any, code: int) -> None:
    with pytest.raises(OperationFailure) as caught:
        run(CLOTHES, [{"$unwind": spec}])
    assert caught.value.code == code


# --- $lookup, $unionWith, $facet ------------------------------------------------------------------


def test_lookup_equality_matches_null_and_missing() -> None:
    out = run(
        ORDERS,
        [
            {
                "$lookup": {
                    "from": "inventory",
                    "localField": "item",
                    "foreignField": "sku",
                    "as": "docs",
                }
            }
        ],
    )
    assert [ids(d["docs"]) for d in out] == [[1], [4], [5, 6]]
    assert out[0]["docs"][0] == INVENTORY[0]


def test_lookup_array_values_match_elements() -> None:
    classes = [{"_id": 1, "title": "Reading", "enrollmentlist": ["giraffe2", "pandabear"]}]
    members = [
        {"_id": 1, "name": "artie"},
        {"_id": 2, "name": "giraffe2"},
        {"_id": 3, "name": "pandabear"},
        {"_id": 4, "name": ["x", "pandabear"]},
    ]
    out = run_pipeline(
        classes,
        [
            {
                "$lookup": {
                    "from": "m",
                    "localField": "enrollmentlist",
                    "foreignField": "name",
                    "as": "e",
                }
            }
        ],
        resolve=lambda name: members,
    )
    assert ids(out[0]["e"]) == [2, 3, 4]


def test_lookup_reads_each_collection_once() -> None:
    reads: list[str] = []

    def resolve(name: str) -> list[dict[str, Any]]:
        reads.append(name)
        return INVENTORY

    spec = {"from": "inventory", "localField": "item", "foreignField": "sku", "as": "i"}
    run_pipeline(ORDERS, [{"$lookup": spec}, {"$lookup": {**spec, "as": "j"}}], resolve=resolve)
    assert reads == ["inventory"]


def test_lookup_with_let_and_pipeline() -> None:
    out = run(
        ORDERS[:2],
        [
            {
                "$lookup": {
                    "from": "inventory",
                    "let": {"wanted": "$item", "qty": "$quantity"},
                    "pipeline": [
                        {
                            "$match": {
                                "$expr": {
                                    "$and": [
                                        {"$eq": ["$sku", "$$wanted"]},
                                        {"$gte": ["$instock", "$$qty"]},
                                    ]
                                }
                            }
                        },
                        {"$project": {"_id": 0, "instock": 1, "ordered": "$$qty"}},
                    ],
                    "as": "stock",
                }
            }
        ],
    )
    assert [d["stock"] for d in out] == [
        [{"instock": 120, "ordered": 2}],
        [{"instock": 70, "ordered": 1}],
    ]


def test_lookup_as_overwrites_and_nests() -> None:
    out = run(
        [{"_id": 1, "item": "bread", "x": {"keep": 1}}],
        [
            {
                "$lookup": {
                    "from": "inventory",
                    "localField": "item",
                    "foreignField": "sku",
                    "as": "x.found",
                }
            }
        ],
    )
    assert out[0]["x"] == {"keep": 1, "found": [INVENTORY[1]]}


def test_union_with() -> None:
    out = run(
        ORDERS,
        [{"$unionWith": {"coll": "inventory", "pipeline": [{"$match": {"instock": {"$gt": 75}}}]}}],
    )
    assert ids(out) == [1, 2, 3, 1, 2]
    assert len(run([], [{"$unionWith": "sales"}])) == 5


def test_facet() -> None:
    out = run(
        SALES,
        [
            {
                "$facet": {
                    "byItem": [{"$sortByCount": "$item"}, {"$limit": 1}],
                    "expensive": [{"$match": {"price": {"$gte": 10}}}, {"$count": "n"}],
                    "ids": [{"$project": {"_id": 1}}],
                }
            }
        ],
    )
    assert len(out) == 1
    assert out[0]["expensive"] == [{"n": 3}]
    assert out[0]["byItem"][0]["count"] == 2
    assert out[0]["ids"] == [{"_id": i} for i in range(1, 6)]
    with pytest.raises(OperationFailure) as caught:
        run(SALES, [{"$facet": {"x": [{"$facet": {"y": [{"$limit": 1}]}}]}}])
    assert caught.value.code == 40600


# --- pipeline-level behaviour -----------------------------------------------------------------


def test_input_documents_are_never_changed() -> None:
    docs = copy.deepcopy(SCORES)
    run(
        docs,
        [
            {"$addFields": {"homework": {"$sum": "$homework"}, "quiz.x": 1}},
            {"$unset": "student"},
            {"$lookup": {"from": "inventory", "localField": "x", "foreignField": "sku", "as": "l"}},
        ],
    )
    assert docs == SCORES


@pytest.mark.parametrize(
    ("pipeline", "code"),
    [
        ([{"$foo": {}}], 40324),
        ([{"$match": {}, "$limit": 1}], 40323),
        ([{}], 40323),
        ([{"$match": 5}], 15959),
        ([{"$sort": {}}], 15976),
        ([{"$sort": {"a": 2}}], 15975),
        ([{"$limit": 0}], 15958),
        ([{"$limit": "1"}], 15957),
        ([{"$limit": 1.5}], 15957),
        ([{"$skip": -1}], 15956),
        ([{"$count": ""}], 40156),
        ([{"$count": "$n"}], 40158),
        ([{"$count": "a.b"}], 40160),
        ([{"$out": "other"}], 40324),
        ([{"$merge": {"into": "other"}}], 40324),
        ([{"$lookup": {"from": "inventory", "localField": "a", "as": "x"}}], 9),
    ],
)
def test_pipeline_errors(pipeline: list[Any], code: int) -> None:
    with pytest.raises(OperationFailure) as caught:
        run(SALES, pipeline)
    assert caught.value.code == code


def test_unknown_stage_message_and_out_refusal() -> None:
    with pytest.raises(OperationFailure, match=r"Unrecognized pipeline stage name: '\$foo'"):
        run(SALES, [{"$foo": 1}])
    with pytest.raises(OperationFailure, match="not supported by the embedded store"):
        run(SALES, [{"$match": {}}, {"$out": "copy"}])
    with pytest.raises(OperationFailure, match=r"\$geoNear is not supported"):
        run(SALES, [{"$geoNear": {"near": [0, 0], "distanceField": "d"}}])


def test_pipeline_collections() -> None:
    pipeline = [
        {"$match": {"a": 1}},
        {"$lookup": {"from": "inventory", "localField": "a", "foreignField": "b", "as": "x"}},
        {
            "$lookup": {
                "from": "users",
                "pipeline": [{"$unionWith": {"coll": "archive"}}],
                "as": "y",
            }
        },
        {"$unionWith": "events"},
        {
            "$facet": {
                "f": [
                    {"$lookup": {"from": "tags", "localField": "a", "foreignField": "b", "as": "t"}}
                ]
            }
        },
    ]
    assert pipeline_collections(pipeline) == {"inventory", "users", "archive", "events", "tags"}
    assert pipeline_collections([{"$group": {"_id": None}}]) == set()


def test_split_leading_match() -> None:
    rest = [{"$sort": {"a": 1}}, {"$match": {"c": 1}}]
    assert split_leading_match([{"$match": {"a": 1}}, *rest]) == ({"a": 1}, rest)
    assert split_leading_match([{"$match": {"a": 1}}, {"$match": {"b": 2}}, *rest]) == (
        {"$and": [{"a": 1}, {"b": 2}]},
        rest,
    )
    assert split_leading_match(rest) == (None, rest)
    assert split_leading_match([]) == (None, [])


def test_split_then_run_equals_running_whole_pipeline() -> None:
    pipeline = [
        {"$match": {"item": "xyz"}},
        {"$match": {"quantity": {"$gt": 10}}},
        {"$project": {"item": 1}},
    ]
    query, rest = split_leading_match(pipeline)
    prefiltered = run(SALES, [{"$match": query}])
    assert run(prefiltered, rest) == run(SALES, pipeline) == [{"_id": 4, "item": "xyz"}]


def test_decimal_prices_from_the_unwind_page() -> None:
    inventory = [
        {"_id": 1, "item": "ABC", "price": Decimal128("80"), "sizes": ["S", "M", "L"]},
        {"_id": 2, "item": "EFG", "price": Decimal128("120"), "sizes": []},
        {"_id": 3, "item": "IJK", "price": Decimal128("160"), "sizes": "M"},
        {"_id": 4, "item": "LMN", "price": Decimal128("10")},
        {"_id": 5, "item": "XYZ", "price": Decimal128("5.75"), "sizes": None},
    ]
    out = run(
        inventory,
        [
            {"$unwind": {"path": "$sizes", "preserveNullAndEmptyArrays": True}},
            {"$group": {"_id": "$sizes", "averagePrice": {"$avg": "$price"}}},
            {"$sort": {"averagePrice": -1, "_id": 1}},
        ],
    )
    assert out == [
        {"_id": "M", "averagePrice": Decimal128("120")},
        {"_id": "L", "averagePrice": Decimal128("80")},
        {"_id": "S", "averagePrice": Decimal128("80")},
        {"_id": None, "averagePrice": Decimal128("45.25")},
    ]


def test_unwind_embedded_arrays_then_sum_decimals() -> None:
    sales = [
        {
            "_id": "1",
            "items": [
                {
                    "name": "pens",
                    "tags": ["writing", "office"],
                    "price": Decimal128("12.00"),
                    "quantity": 5,
                },
                {
                    "name": "envelopes",
                    "tags": ["office"],
                    "price": Decimal128("1.95"),
                    "quantity": 8,
                },
            ],
        }
    ]
    out = run(
        sales,
        [
            {"$unwind": "$items"},
            {"$unwind": "$items.tags"},
            {
                "$group": {
                    "_id": "$items.tags",
                    "total": {"$sum": {"$multiply": ["$items.price", "$items.quantity"]}},
                }
            },
        ],
    )
    assert {d["_id"]: d["total"].to_decimal() for d in out} == {
        "writing": Decimal("60.00"),
        "office": Decimal("75.60"),
    }


GAMES = [
    {"playerId": "PlayerA", "gameId": "G1", "score": 31},
    {"playerId": "PlayerB", "gameId": "G1", "score": 33},
    {"playerId": "PlayerC", "gameId": "G1", "score": 99},
    {"playerId": "PlayerD", "gameId": "G1", "score": 1},
    {"playerId": "PlayerA", "gameId": "G2", "score": 10},
    {"playerId": "PlayerB", "gameId": "G2", "score": 14},
    {"playerId": "PlayerC", "gameId": "G2", "score": None},
]


@pytest.mark.parametrize(
    ("accumulator", "expected_g1", "expected_g2"),
    [
        (
            {"$top": {"sortBy": {"score": -1}, "output": ["$playerId", "$score"]}},
            ["PlayerC", 99],
            ["PlayerB", 14],
        ),
        ({"$bottom": {"sortBy": {"score": -1}, "output": "$playerId"}}, "PlayerD", "PlayerC"),
        ({"$topN": {"n": 2, "sortBy": {"score": -1}, "output": "$score"}}, [99, 33], [14, 10]),
        ({"$bottomN": {"n": 2, "sortBy": {"score": -1}, "output": "$score"}}, [31, 1], [10, None]),
        ({"$firstN": {"input": "$score", "n": 2}}, [31, 33], [10, 14]),
        ({"$lastN": {"input": "$score", "n": 2}}, [99, 1], [14, None]),
        ({"$maxN": {"input": "$score", "n": 2}}, [99, 33], [14, 10]),
        ({"$minN": {"input": "$score", "n": 5}}, [1, 31, 33, 99], [10, 14]),
    ],
)
def test_n_and_sorted_accumulators(
    accumulator: dict[str, Any], expected_g1: Any, expected_g2: Any
) -> None:
    out = run(GAMES, [{"$group": {"_id": "$gameId", "result": accumulator}}, {"$sort": {"_id": 1}}])
    assert out == [{"_id": "G1", "result": expected_g1}, {"_id": "G2", "result": expected_g2}]


@pytest.mark.parametrize(
    "accumulator",
    [
        {"$firstN": {"input": "$score", "n": 0}},
        {"$firstN": {"input": "$score", "n": "2"}},
        {"$firstN": {"input": "$score"}},
        {"$top": {"sortBy": {"score": -1}}},
        {"$top": {"sortBy": "score", "output": "$score"}},
    ],
)
def test_n_accumulator_errors(accumulator: dict[str, Any]) -> None:
    with pytest.raises(OperationFailure):
        run(GAMES, [{"$group": {"_id": None, "r": accumulator}}])


EMPLOYEES = [
    {"_id": 1, "name": "Dev"},
    {"_id": 2, "name": "Eliot", "reportsTo": "Dev"},
    {"_id": 3, "name": "Ron", "reportsTo": "Eliot"},
    {"_id": 4, "name": "Andrew", "reportsTo": "Eliot"},
    {"_id": 5, "name": "Asya", "reportsTo": "Ron"},
    {"_id": 6, "name": "Dan", "reportsTo": "Andrew"},
]


def test_graph_lookup_reporting_hierarchy() -> None:
    out = run_pipeline(
        EMPLOYEES,
        [
            {
                "$graphLookup": {
                    "from": "employees",
                    "startWith": "$reportsTo",
                    "connectFromField": "reportsTo",
                    "connectToField": "name",
                    "as": "reportingHierarchy",
                    "depthField": "depth",
                }
            }
        ],
        resolve=lambda name: EMPLOYEES,
    )
    chains = {d["name"]: {(m["name"], m["depth"]) for m in d["reportingHierarchy"]} for d in out}
    assert chains["Dev"] == set()
    assert chains["Eliot"] == {("Dev", 0)}
    assert chains["Dan"] == {("Andrew", 0), ("Eliot", 1), ("Dev", 2)}


def test_graph_lookup_max_depth_and_restriction() -> None:
    spec = {
        "from": "employees",
        "startWith": "$reportsTo",
        "connectFromField": "reportsTo",
        "connectToField": "name",
        "as": "chain",
    }
    out = run_pipeline(
        EMPLOYEES[5:], [{"$graphLookup": {**spec, "maxDepth": 1}}], resolve=lambda n: EMPLOYEES
    )
    assert sorted(m["name"] for m in out[0]["chain"]) == ["Andrew", "Eliot"]
    restricted = {**spec, "restrictSearchWithMatch": {"name": {"$ne": "Eliot"}}}
    out = run_pipeline(EMPLOYEES[5:], [{"$graphLookup": restricted}], resolve=lambda n: EMPLOYEES)
    assert [m["name"] for m in out[0]["chain"]] == ["Andrew"]
    with pytest.raises(OperationFailure):
        run_pipeline(
            EMPLOYEES, [{"$graphLookup": {"from": "employees"}}], resolve=lambda n: EMPLOYEES
        )


@pytest.mark.parametrize("direction", [1, -1])
def test_sort_then_limit_keeps_ties_in_input_order(direction: int) -> None:
    docs = [{"_id": i, "k": i % 3, "arr": [i % 5, 10 - i % 4]} for i in range(30)]
    for spec in ({"k": direction}, {"arr": direction, "_id": -direction}):
        whole = run(docs, [{"$sort": spec}])
        assert run(docs, [{"$sort": spec}, {"$limit": 7}]) == whole[:7]


CAKE_SALES = [
    {
        "_id": 0,
        "type": "chocolate",
        "orderDate": D(2020, 5, 18, 14, 10, 30),
        "state": "CA",
        "price": 13,
        "quantity": 120,
    },
    {
        "_id": 1,
        "type": "chocolate",
        "orderDate": D(2021, 3, 20, 11, 30, 5),
        "state": "WA",
        "price": 14,
        "quantity": 140,
    },
    {
        "_id": 2,
        "type": "vanilla",
        "orderDate": D(2021, 1, 11, 6, 31, 15),
        "state": "CA",
        "price": 12,
        "quantity": 145,
    },
    {
        "_id": 3,
        "type": "vanilla",
        "orderDate": D(2020, 2, 8, 13, 13, 23),
        "state": "WA",
        "price": 13,
        "quantity": 104,
    },
    {
        "_id": 4,
        "type": "strawberry",
        "orderDate": D(2019, 5, 18, 16, 9, 1),
        "state": "CA",
        "price": 41,
        "quantity": 162,
    },
    {
        "_id": 5,
        "type": "strawberry",
        "orderDate": D(2019, 1, 8, 6, 12, 3),
        "state": "WA",
        "price": 43,
        "quantity": 134,
    },
]


def test_set_window_fields_running_total_per_partition() -> None:
    out = run(
        CAKE_SALES,
        [
            {
                "$setWindowFields": {
                    "partitionBy": "$state",
                    "sortBy": {"orderDate": 1},
                    "output": {
                        "running": {
                            "$sum": "$quantity",
                            "window": {"documents": ["unbounded", "current"]},
                        },
                        "total": {"$sum": "$quantity"},
                        "moving": {"$avg": "$quantity", "window": {"documents": [-1, 0]}},
                    },
                }
            }
        ],
    )
    assert [(d["state"], d["_id"], d["running"], d["total"]) for d in out] == [
        ("CA", 4, 162, 427),
        ("CA", 0, 282, 427),
        ("CA", 2, 427, 427),
        ("WA", 5, 134, 378),
        ("WA", 3, 238, 378),
        ("WA", 1, 378, 378),
    ]
    assert [d["moving"] for d in out] == [162.0, 141.0, 132.5, 134.0, 119.0, 122.0]
    assert out[0]["type"] == "strawberry"


def test_set_window_fields_ranks_and_shift() -> None:
    docs = [{"_id": i, "score": s} for i, s in enumerate([30, 50, 50, 10])]
    out = run(
        docs,
        [
            {
                "$setWindowFields": {
                    "sortBy": {"score": -1},
                    "output": {
                        "rank": {"$rank": {}},
                        "dense": {"$denseRank": {}},
                        "number": {"$documentNumber": {}},
                        "previous": {"$shift": {"output": "$score", "by": -1, "default": "none"}},
                    },
                }
            }
        ],
    )
    assert [(d["_id"], d["rank"], d["dense"], d["number"], d["previous"]) for d in out] == [
        (1, 1, 1, 1, "none"),
        (2, 1, 1, 2, 50),
        (0, 3, 2, 3, 50),
        (3, 4, 3, 4, 30),
    ]


@pytest.mark.parametrize(
    "spec",
    [
        {"output": {"r": {"$rank": {}}}},
        {"sortBy": {"a": 1}, "output": {"s": {"$sum": "$a", "window": {"range": [-1, 1]}}}},
        {"output": {"s": {"$sum": "$a", "$avg": "$a"}}},
        {"output": 5},
    ],
)
def test_set_window_fields_errors(spec: dict[str, Any]) -> None:
    with pytest.raises(OperationFailure):
        run(SALES, [{"$setWindowFields": spec}])


def test_apply_update_pipeline() -> None:
    doc = {"_id": 1, "student": "Skye", "points": 75, "commentsSemester1": "great", "x": 1}
    updated = apply_update_pipeline(
        doc,
        [
            {"$set": {"modified": "$$NOW", "total": {"$add": ["$points", "$$bonus"]}}},
            {"$unset": ["commentsSemester1", "x"]},
        ],
        {"bonus": 5},
    )
    assert updated["total"] == 80
    assert isinstance(updated["modified"], datetime.datetime)
    assert set(updated) == {"_id", "student", "points", "modified", "total"}
    assert doc["x"] == 1
    replaced = apply_update_pipeline(doc, [{"$replaceWith": {"_id": "$_id", "only": "$student"}}])
    assert replaced == {"_id": 1, "only": "Skye"}
    with pytest.raises(OperationFailure) as caught:
        apply_update_pipeline(doc, [{"$match": {}}])
    assert caught.value.code == 72
