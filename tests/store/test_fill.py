"""$fill, on the MongoDB manual's examples: a constant value, a line between known values,
the last value seen, per partition, and MongoDB's errors for malformed specifications."""

import datetime
from typing import Any

import pytest
from pymongo.errors import OperationFailure


def day(d: int) -> datetime.datetime:
    return datetime.datetime(2021, 3, d)


def hour(h: int) -> datetime.datetime:
    return datetime.datetime(2021, 3, 8, h)


async def fill(db: Any, docs: list[dict[str, Any]], *stages: Any) -> list[dict[str, Any]]:
    await db.c.insert_many([dict(d) for d in docs])
    return await db.c.aggregate([{"$unset": "_id"}, *stages]).to_list()


async def test_missing_fields_take_a_constant_value(db: Any) -> None:
    sales = [
        {"date": datetime.datetime(2022, 2, 2), "bootsSold": 10, "sandalsSold": 20,
         "sneakersSold": 12},
        {"date": datetime.datetime(2022, 2, 3), "bootsSold": 7, "sneakersSold": 18},
        {"date": datetime.datetime(2022, 2, 4), "sneakersSold": 5},
    ]  # fmt: skip
    zero = {"value": 0}
    spec = {"output": {"bootsSold": zero, "sandalsSold": zero, "sneakersSold": zero}}
    out = await fill(db, sales, {"$fill": spec})
    assert out == [
        sales[0],
        {**sales[1], "sandalsSold": 0},
        {**sales[2], "bootsSold": 0, "sandalsSold": 0},
    ]


async def test_linear_interpolation_between_known_prices(db: Any) -> None:
    prices = [500, None, 515, None, None, 485]
    stock = [{"time": hour(9 + i)} | ({"price": p} if p else {}) for i, p in enumerate(prices)]
    spec = {"sortBy": {"time": 1}, "output": {"price": {"method": "linear"}}}
    out = await fill(db, stock, {"$fill": spec})
    assert [d["price"] for d in out] == [500, 507.5, 515, 505, 495, 485]
    assert [d["time"] for d in out] == [hour(9 + i) for i in range(6)]


async def test_last_observation_carried_forward(db: Any) -> None:
    scores = [90, 92, None, None, 85, None]
    reviews = [{"date": day(8 + i)} | ({"score": s} if s else {}) for i, s in enumerate(scores)]
    spec = {"sortBy": {"date": 1}, "output": {"score": {"method": "locf"}}}
    out = await fill(db, reviews, {"$fill": spec})
    assert [d["score"] for d in out] == [90, 92, 92, 92, 85, 85]


MULTIPLE = [
    {"date": day(8), "restaurant": "Joe's Pizza", "score": 90},
    {"date": day(8), "restaurant": "Sally's Deli", "score": 75},
    {"date": day(9), "restaurant": "Joe's Pizza", "score": 92},
    {"date": day(9), "restaurant": "Sally's Deli"},
    {"date": day(10), "restaurant": "Joe's Pizza"},
    {"date": day(10), "restaurant": "Sally's Deli", "score": 68},
    {"date": day(11), "restaurant": "Joe's Pizza", "score": 93},
    {"date": day(11), "restaurant": "Sally's Deli"},
]


@pytest.mark.parametrize(
    "partition",
    [{"partitionBy": {"restaurant": "$restaurant"}}, {"partitionByFields": ["restaurant"]}],
)
async def test_each_partition_is_filled_from_its_own_values(db: Any, partition: Any) -> None:
    spec = {"sortBy": {"date": 1}, **partition, "output": {"score": {"method": "locf"}}}
    out = await fill(db, MULTIPLE, {"$fill": spec})
    assert [(d["restaurant"][:3], d["date"].day, d["score"]) for d in out] == [
        ("Joe", 8, 90), ("Joe", 9, 92), ("Joe", 10, 92), ("Joe", 11, 93),
        ("Sal", 8, 75), ("Sal", 9, 75), ("Sal", 10, 68), ("Sal", 11, 68),
    ]  # fmt: skip


async def test_a_flag_set_before_filling_tells_filled_values_apart(db: Any) -> None:
    scores = [90, 92, None, None, 85, None]
    reviews = [{"date": day(8 + i)} | ({"score": s} if s else {}) for i, s in enumerate(scores)]
    existed = {"$ifNull": [{"$toBool": {"$toString": "$score"}}, False]}
    out = await fill(
        db,
        reviews,
        {"$set": {"valueExisted": existed}},
        {"$fill": {"sortBy": {"date": 1}, "output": {"score": {"method": "locf"}}}},
    )
    assert [(d["score"], d["valueExisted"]) for d in out] == [
        (90, True), (92, True), (92, False), (92, False), (85, True), (85, False)
    ]  # fmt: skip


async def test_values_and_methods_mix_and_leading_nulls_stay_null(db: Any) -> None:
    docs = [{"t": 1}, {"t": 2, "a": 10, "b": 1}, {"t": 3}, {"t": 4, "a": 40}]
    spec = {"sortBy": {"t": 1}, "output": {"a": {"method": "linear"}, "b": {"value": -1}}}
    out = await fill(db, docs, {"$fill": spec})
    assert [(d["a"], d["b"]) for d in out] == [(None, -1), (10, 1), (25, -1), (40, -1)]


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ("x", 9),
        ({"sortBy": {"t": 1}}, 40414),
        ({"output": {}}, 6050203),
        ({"output": {"a": 1}}, 6050200),
        ({"output": {"a": {"method": "locf", "value": 1}}, "sortBy": {"t": 1}}, 6050201),
        ({"output": {"a": {"method": "nearest"}}, "sortBy": {"t": 1}}, 6050202),
        ({"output": {"a": {"value": 1}}, "partitionBy": "$p", "partitionByFields": ["p"]}, 6050204),
        ({"output": {"a": {"value": 1}}, "window": {}}, 40415),
        ({"output": {"a": {"method": "locf"}}}, 9),  # a method needs a sortBy
        ({"output": {"a": {"method": "linear"}}, "sortBy": {"t": 1, "u": 1}}, 9),
    ],
)
async def test_malformed_specifications_fail_with_mongodb_codes(
    db: Any, spec: Any, code: int
) -> None:
    await db.c.insert_one({"t": 1})
    with pytest.raises(OperationFailure) as caught:
        await db.c.aggregate([{"$fill": spec}]).to_list()
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("docs", "code"),
    [
        ([{"t": 1, "a": 1}, {"t": 1}, {"t": 2, "a": 3}], 6050106),  # repeated sort value
        ([{"t": 1, "a": "x"}, {"t": 2}], 14),  # not a number to interpolate
        ([{"t": "one", "a": 1}], 14),  # a sort value neither number nor date
    ],
)
async def test_linear_fill_refuses_what_it_cannot_interpolate(
    db: Any, docs: Any, code: int
) -> None:
    spec = {"sortBy": {"t": 1}, "output": {"a": {"method": "linear"}}}
    with pytest.raises(OperationFailure) as caught:
        await fill(db, docs, {"$fill": spec})
    assert caught.value.code == code
