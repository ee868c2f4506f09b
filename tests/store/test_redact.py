"""$redact, on the MongoDB manual's examples: each level of a document is kept, pruned or
descended into by an expression that sees that level as $$CURRENT."""

import datetime
from typing import Any

import pytest
from pymongo.errors import OperationFailure

FORECAST = {
    "_id": 1,
    "title": "123 Department Report",
    "tags": ["G", "STLW"],
    "year": 2014,
    "subsections": [
        {
            "subtitle": "Section 1: Overview",
            "tags": ["SI", "G"],
            "content": "Section 1: This is the content of section 1.",
        },
        {
            "subtitle": "Section 2: Analysis",
            "tags": ["STLW"],
            "content": "Section 2: This is the content of section 2.",
        },
        {
            "subtitle": "Section 3: Budgeting",
            "tags": ["TK"],
            "content": {"text": "Section 3: This is the content of section 3.", "tags": ["HCS"]},
        },
    ],
}
ACCOUNT = {
    "_id": 1,
    "level": 1,
    "acct_id": "xyz123",
    "cc": {
        "level": 5,
        "type": "yy",
        "num": 0,
        "exp_date": datetime.datetime(2015, 11, 1),
        "billing_addr": {"level": 5, "addr1": "123 ABC Street", "city": "Some City"},
        "shipping_addr": [
            {"level": 3, "addr1": "987 XYZ Ave", "city": "Some City"},
            {"level": 3, "addr1": "PO Box 0123", "city": "Some City"},
        ],
    },
    "status": "A",
}


def by_access(access: list[str]) -> dict[str, Any]:
    shared = {"$size": {"$setIntersection": ["$tags", access]}}
    return {"$cond": {"if": {"$gt": [shared, 0]}, "then": "$$DESCEND", "else": "$$PRUNE"}}


async def redact(db: Any, doc: dict[str, Any], expr: Any) -> list[dict[str, Any]]:
    await db.c.insert_one(doc)
    return await db.c.aggregate([{"$redact": expr}]).to_list()


async def test_descend_keeps_the_levels_the_reader_may_see(db: Any) -> None:
    (doc,) = await redact(db, FORECAST, by_access(["STLW", "G"]))
    assert doc == {**FORECAST, "subsections": FORECAST["subsections"][:2]}


async def test_a_pruned_top_level_drops_the_document(db: Any) -> None:
    assert await redact(db, FORECAST, by_access(["TK"])) == []


async def test_prune_removes_embedded_documents_at_every_level(db: Any) -> None:
    expr = {"$cond": {"if": {"$eq": ["$level", 5]}, "then": "$$PRUNE", "else": "$$DESCEND"}}
    assert await redact(db, ACCOUNT, expr) == [
        {"_id": 1, "level": 1, "acct_id": "xyz123", "status": "A"}
    ]


async def test_keep_returns_the_level_whole_and_root_stays_the_document(db: Any) -> None:
    # Below the top, $$ROOT is still the whole document while $$CURRENT moves down.
    expr = {
        "$cond": [
            {"$eq": ["$level", 3]},
            "$$KEEP",
            {"$cond": [{"$eq": ["$$ROOT.status", "A"]}, "$$DESCEND", "$$PRUNE"]},
        ]
    }
    (doc,) = await redact(db, ACCOUNT, expr)
    assert doc == ACCOUNT


async def test_an_expression_returning_anything_else_fails(db: Any) -> None:
    with pytest.raises(OperationFailure) as caught:
        await redact(db, FORECAST, "$year")
    assert caught.value.code == 17053
