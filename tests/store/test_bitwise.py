"""The bitwise query operators, on the MongoDB manual's examples and edge values."""

from typing import Any

import pytest
from bson.binary import Binary
from bson.int64 import Int64
from pymongo.errors import OperationFailure


@pytest.fixture
async def coll(db: Any) -> Any:
    # The manual's collection (a: 54, 20, 20.0, BinData(0, "Zg==")), and edge values.
    await db.c.insert_many(
        [
            {"_id": 1, "a": 54},
            {"_id": 2, "a": 20},
            {"_id": 3, "a": 20.0},
            {"_id": 4, "a": Binary(b"f")},
            {"_id": 5, "a": -1},
            {"_id": 6, "a": 2.5},
            {"_id": 7, "a": "54"},
            {"_id": 8, "a": [20, 54]},
            {"_id": 9, "a": Int64(2**40)},
        ]
    )
    return db.c


@pytest.mark.parametrize(
    ("filter", "ids"),
    [
        ({"$bitsAllSet": [1, 5]}, [1, 4, 5, 8]),
        ({"$bitsAllSet": 50}, [1, 5, 8]),
        ({"$bitsAllSet": Binary(b"\x22")}, [1, 4, 5, 8]),
        ({"$bitsAnySet": [1, 5]}, [1, 4, 5, 8]),
        ({"$bitsAllClear": [1, 5]}, [2, 3, 8, 9]),
        ({"$bitsAnyClear": [1, 5]}, [2, 3, 8, 9]),
        ({"$bitsAnyClear": 35}, [1, 2, 3, 4, 8, 9]),
        ({"$bitsAllSet": [40]}, [5, 9]),
        ({"$bitsAllSet": [100]}, [5]),  # a negative number's sign bits go on forever
        ({"$bitsAllClear": [100]}, [1, 2, 3, 4, 8, 9]),
    ],
)
async def test_bits(coll: Any, filter: Any, ids: list[int]) -> None:
    found = await coll.find({"a": filter}).sort("_id", 1).to_list(None)
    assert [doc["_id"] for doc in found] == ids


@pytest.mark.parametrize("arg", [-1, 1.5, "3", [-1], [1.5], {"x": 1}, None])
async def test_bad_masks_are_refused(coll: Any, arg: Any) -> None:
    with pytest.raises(OperationFailure) as info:
        await coll.find({"a": {"$bitsAllSet": arg}}).to_list(None)
    assert info.value.code == 2
