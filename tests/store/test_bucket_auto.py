"""$bucketAuto, on the MongoDB manual's artwork example and the preferred-number series:
even buckets whose values never straddle two, rounded boundaries, MongoDB's error codes."""

from typing import Any

import pytest
from bson.decimal128 import Decimal128
from pymongo.errors import OperationFailure

PRICES = ["199.99", "280.00", "76.04", "167.30", "483.00", "385.00", "159.00", "118.42"]
YEARS = [1926, 1902, 1925, None, 1931, 1913, None, 1918]
ARTWORK = [
    {"_id": i + 1, "price": Decimal128(p)} | ({"year": y} if y else {})
    for i, (p, y) in enumerate(zip(PRICES, YEARS, strict=True))
]


def d(text: str) -> Decimal128:
    return Decimal128(text)


async def buckets(db: Any, docs: list[dict[str, Any]], spec: Any) -> list[dict[str, Any]]:
    await db.c.insert_many([dict(doc) for doc in docs])
    return await db.c.aggregate([{"$bucketAuto": spec}]).to_list()


async def test_prices_in_four_even_buckets(db: Any) -> None:
    out = await buckets(db, ARTWORK, {"groupBy": "$price", "buckets": 4})
    assert out == [
        {"_id": {"min": d("76.04"), "max": d("159.00")}, "count": 2},
        {"_id": {"min": d("159.00"), "max": d("199.99")}, "count": 2},
        {"_id": {"min": d("199.99"), "max": d("385.00")}, "count": 2},
        {"_id": {"min": d("385.00"), "max": d("483.00")}, "count": 2},
    ]


async def test_output_accumulators_and_missing_values_grouped_as_null(db: Any) -> None:
    spec = {
        "groupBy": "$year",
        "buckets": 3,
        "output": {"count": {"$sum": 1}, "ids": {"$push": "$_id"}},
    }
    out = await buckets(db, ARTWORK, spec)
    assert out == [
        {"_id": {"min": None, "max": 1913}, "count": 3, "ids": [4, 7, 2]},
        {"_id": {"min": 1913, "max": 1926}, "count": 3, "ids": [6, 8, 3]},
        {"_id": {"min": 1926, "max": 1931}, "count": 2, "ids": [1, 5]},
    ]


async def test_equal_values_stay_in_one_bucket(db: Any) -> None:
    docs = [{"v": v} for v in (1, 1, 1, 1, 2, 3)]
    out = await buckets(db, docs, {"groupBy": "$v", "buckets": 3})
    assert out == [
        {"_id": {"min": 1, "max": 2}, "count": 4},
        {"_id": {"min": 2, "max": 3}, "count": 2},
    ]


async def test_more_buckets_than_documents_gives_one_per_value(db: Any) -> None:
    out = await buckets(db, [{"v": 5}, {"v": 1}], {"groupBy": "$v", "buckets": 10})
    assert out == [
        {"_id": {"min": 1, "max": 5}, "count": 1},
        {"_id": {"min": 5, "max": 5}, "count": 1},
    ]


async def test_r20_granularity_rounds_boundaries_to_the_series(db: Any) -> None:
    docs = [{"_id": i} for i in range(21)]
    out = await buckets(db, docs, {"groupBy": "$_id", "buckets": 5, "granularity": "R20"})
    # R20 is 1.00, 1.12, ..., 3.15, ..., 7.10, ... scaled by powers of ten; the last
    # bucket takes what remains.
    bounds = [(b["_id"]["min"], b["_id"]["max"], b["count"]) for b in out]
    assert bounds == [
        (0, pytest.approx(3.15), 4),
        (pytest.approx(3.15), pytest.approx(7.1), 4),
        (pytest.approx(7.1), pytest.approx(11.2), 4),
        (pytest.approx(11.2), pytest.approx(16), 4),
        (pytest.approx(16), pytest.approx(22.4), 5),
    ]


@pytest.mark.parametrize(
    ("granularity", "values", "expected"),
    [
        ("1-2-5", [3, 7, 30], [(2, 5, 1), (5, 10, 1), (10, 50, 1)]),  # min: the last max
        ("E6", [0.8, 9], [(0.68, 1.0, 1), (1.0, 10.0, 1)]),  # 0.8: past 0.68, below 1.0
        ("POWERSOF2", [3, 8, 20], [(2, 4, 1), (4, 16, 1), (16, 32, 1)]),
        ("POWERSOF2", [0.3, 5.5], [(0.25, 0.5, 1), (0.5, 8, 1)]),
    ],
)
async def test_granularities(db: Any, granularity: str, values: Any, expected: Any) -> None:
    docs = [{"v": v} for v in values]
    spec = {"groupBy": "$v", "buckets": len(values), "granularity": granularity}
    out = await buckets(db, docs, spec)
    got = [(b["_id"]["min"], b["_id"]["max"], b["count"]) for b in out]
    assert got == [(pytest.approx(lo), pytest.approx(hi), n) for lo, hi, n in expected]


async def test_decimal_values_round_to_decimal_boundaries(db: Any) -> None:
    out = await buckets(
        db, [{"v": d("3")}], {"groupBy": "$v", "buckets": 1, "granularity": "1-2-5"}
    )
    assert out == [{"_id": {"min": d("2.0"), "max": d("5.0")}, "count": 1}]


async def test_no_documents_no_buckets(db: Any) -> None:
    await db.c.insert_one({"other": 1})
    pipeline = [{"$match": {"v": 1}}, {"$bucketAuto": {"groupBy": "$v", "buckets": 2}}]
    assert await db.c.aggregate(pipeline).to_list() == []


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ([], 40240),
        ({"groupBy": "price", "buckets": 2}, 40239),
        ({"groupBy": "$v", "buckets": "2"}, 40241),
        ({"groupBy": "$v", "buckets": 2.5}, 40242),
        ({"groupBy": "$v", "buckets": 0}, 40243),
        ({"groupBy": "$v", "buckets": 2, "output": 1}, 40244),
        ({"groupBy": "$v", "buckets": 2, "boundaries": [1, 2]}, 40245),
        ({"groupBy": "$v"}, 40246),
        ({"groupBy": "$v", "buckets": 2, "granularity": 5}, 40261),
        ({"groupBy": "$v", "buckets": 2, "granularity": "R7"}, 40257),
        ({"groupBy": "$v", "buckets": 2, "output": {"n": {"$nope": 1}}}, 15952),
    ],
)
async def test_malformed_specifications(db: Any, spec: Any, code: int) -> None:
    await db.c.insert_one({"v": 1})
    with pytest.raises(OperationFailure) as caught:
        await db.c.aggregate([{"$bucketAuto": spec}]).to_list()
    assert caught.value.code == code


@pytest.mark.parametrize(("value", "code"), [("x", 40258), (float("nan"), 40259), (-1, 40260)])
async def test_granularity_needs_non_negative_numbers(db: Any, value: Any, code: int) -> None:
    await db.c.insert_many([{"v": 1}, {"v": value}])
    spec = {"groupBy": "$v", "buckets": 2, "granularity": "R5"}
    with pytest.raises(OperationFailure) as caught:
        await db.c.aggregate([{"$bucketAuto": spec}]).to_list()
    assert caught.value.code == code
