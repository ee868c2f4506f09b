"""$sortArray, on the MongoDB manual's examples."""

from typing import Any

import pytest
from bson.decimal128 import Decimal128
from pymongo.errors import OperationFailure

TEAM = [
    {"name": "pat", "age": 30, "address": {"street": "12 Baker St", "city": "London"}},
    {"name": "dallas", "age": 36, "address": {"street": "12 Cowper St", "city": "Palo Alto"}},
    {"name": "charlie", "age": 42, "address": {"street": "12 French St", "city": "New Brunswick"}},
]
MIXED = [
    20, 4, {"a": "Free"}, 6, 21, 5, "Gratis", {"a": None},
    {"a": {"sale": True, "price": 19}}, Decimal128("10.23"), {"a": "On sale"},
]  # fmt: skip


async def sort_array(db: Any, input: Any, sort_by: Any) -> Any:
    await db.c.delete_many({})
    await db.c.insert_one({"_id": 1, "input": input})
    spec = {"input": "$input", "sortBy": sort_by}
    (doc,) = await db.c.aggregate([{"$project": {"r": {"$sortArray": spec}}}]).to_list()
    return doc.get("r")


@pytest.mark.parametrize(
    ("input", "sort_by", "expected"),
    [
        (TEAM, {"name": 1}, ["charlie", "dallas", "pat"]),
        (TEAM, {"address.city": -1}, ["dallas", "charlie", "pat"]),
        (TEAM, {"age": -1, "name": 1}, ["charlie", "dallas", "pat"]),
    ],
)
async def test_documents_by_a_pattern(db: Any, input: Any, sort_by: Any, expected: Any) -> None:
    assert [m["name"] for m in await sort_array(db, input, sort_by)] == expected


async def test_values_in_bson_order(db: Any) -> None:
    assert await sort_array(db, [1, 4, 1, 6, 12, 5], 1) == [1, 1, 4, 5, 6, 12]
    assert await sort_array(db, [1, 4, 1, 6, 12, 5], -1) == [12, 6, 5, 4, 1, 1]
    assert await sort_array(db, MIXED, 1) == [
        4, 5, 6, Decimal128("10.23"), 20, 21, "Gratis", {"a": None}, {"a": "Free"},
        {"a": "On sale"}, {"a": {"sale": True, "price": 19}},
    ]  # fmt: skip


async def test_null_input_and_bad_arguments(db: Any) -> None:
    assert await sort_array(db, None, 1) is None
    for input, sort_by in (("text", 1), ([1], 2), ([1], "name"), ([1], {})):
        with pytest.raises(OperationFailure):
            await sort_array(db, input, sort_by)
