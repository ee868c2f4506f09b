"""$setWindowFields range windows, $derivative and $integral, on the MongoDB manual's
cake sales, delivery fleet and power meter examples, with MongoDB's error codes."""

import datetime
import itertools
from typing import Any

import pytest
from pymongo.errors import OperationFailure

T = datetime.datetime
CAKES = [  # the manual's cakeSales, without the cake types
    {"_id": 0, "orderDate": T(2020, 5, 18, 14, 10, 30), "state": "CA", "price": 13, "quantity": 120},  # noqa: E501
    {"_id": 1, "orderDate": T(2021, 3, 20, 11, 30, 5), "state": "WA", "price": 14, "quantity": 140},
    {"_id": 2, "orderDate": T(2021, 1, 11, 6, 31, 15), "state": "CA", "price": 12, "quantity": 145},
    {"_id": 3, "orderDate": T(2020, 2, 8, 13, 13, 23), "state": "WA", "price": 13, "quantity": 104},
    {"_id": 4, "orderDate": T(2019, 5, 18, 16, 9, 1), "state": "CA", "price": 41, "quantity": 162},
    {"_id": 5, "orderDate": T(2019, 1, 8, 6, 12, 3), "state": "WA", "price": 43, "quantity": 134},
]  # fmt: skip
SECONDS = [T(2020, 5, 18, 14, 10, 30) + datetime.timedelta(seconds=30 * i) for i in range(4)]


def readings(field: str, series: dict[str, list[float]], key: str) -> list[dict[str, Any]]:
    return [
        {key: ident, "timeStamp": SECONDS[i], field: value}
        for ident, values in series.items()
        for i, value in enumerate(values)
    ]


MILES = {"1": [1295.1, 1295.63, 1296.25, 1296.76], "2": [10234.1, 10234.33, 10234.73, 10235.13]}
FLEET = readings("miles", MILES, "truckID")
KILOWATTS = {"1": [2.95, 2.7, 2.6, 2.98], "2": [2.5, 2.25, 2.75, 2.82]}
POWER = readings("kilowatts", KILOWATTS, "powerMeterID")


async def windows(db: Any, docs: list[dict[str, Any]], spec: Any) -> list[dict[str, Any]]:
    await db.c.insert_many([dict(d) for d in docs])
    return await db.c.aggregate([{"$setWindowFields": spec}]).to_list()


async def test_numeric_range_sums_orders_within_ten_of_the_price(db: Any) -> None:
    window = {"$sum": "$quantity", "window": {"range": [-10, 10]}}
    spec = {"partitionBy": "$state", "sortBy": {"price": 1}, "output": {"similar": window}}
    out = await windows(db, CAKES, spec)
    assert [(d["_id"], d["similar"]) for d in out] == [
        (2, 265), (0, 265), (4, 162), (3, 244), (1, 244), (5, 134)
    ]  # fmt: skip


async def test_date_range_with_a_unit_of_months(db: Any) -> None:
    window = {"$push": "$orderDate", "window": {"range": ["unbounded", 10], "unit": "month"}}
    spec = {"partitionBy": "$state", "sortBy": {"orderDate": 1}, "output": {"recent": window}}
    out = await windows(db, CAKES, spec)
    dates = {d["_id"]: d["orderDate"] for d in CAKES}
    assert [(d["_id"], d["recent"]) for d in out] == [
        (4, [dates[4]]),  # the next order is 12 months later: past the window's 10
        (0, [dates[4], dates[0], dates[2]]),
        (2, [dates[4], dates[0], dates[2]]),
        (5, [dates[5]]),
        (3, [dates[5], dates[3]]),
        (1, [dates[5], dates[3], dates[1]]),
    ]


async def test_current_takes_every_tie_and_an_empty_window_folds_nothing(db: Any) -> None:
    docs = [{"_id": i, "x": x} for i, x in enumerate([1, 2, 2, 10])]
    spec = {
        "sortBy": {"x": 1},
        "output": {
            "ties": {"$push": "$_id", "window": {"range": ["current", "current"]}},
            "ahead": {"$sum": "$x", "window": {"range": [1, 3]}},
            "avg": {"$avg": "$x", "window": {"range": [1, 3]}},
        },
    }
    out = await windows(db, docs, spec)
    assert [(d["ties"], d["ahead"], d["avg"]) for d in out] == [
        ([0], 4, 2.0), ([1, 2], 0, None), ([1, 2], 0, None), ([3], 0, None)
    ]  # fmt: skip


async def test_derivative_gives_truck_speeds_in_miles_per_hour(db: Any) -> None:
    speed = {"$derivative": {"input": "$miles", "unit": "hour"}}
    speed["window"] = {"range": [-30, 0], "unit": "second"}
    spec = {"partitionBy": "$truckID", "sortBy": {"timeStamp": 1}, "output": {"speed": speed}}
    await db.c.insert_many([dict(d) for d in FLEET])
    pipeline = [{"$setWindowFields": spec}, {"$match": {"speed": {"$gt": 50}}}]
    out = await db.c.aggregate(pipeline).to_list()
    miles = [d["miles"] for d in FLEET[:4]]
    expected = [(b - a) * 120 for a, b in itertools.pairwise(miles)]  # per 30 s
    assert [(d["truckID"], d["timeStamp"]) for d in out] == [("1", t) for t in SECONDS[1:]]
    assert [d["speed"] for d in out] == pytest.approx(expected)


async def test_derivative_without_unit_over_numbers_and_a_single_document_window(db: Any) -> None:
    docs = [{"t": t, "y": y} for t, y in ((0, 0), (2, 4), (4, 12))]
    slope = {"$derivative": {"input": "$y"}, "window": {"documents": [-1, 0]}}
    out = await windows(db, docs, {"sortBy": {"t": 1}, "output": {"slope": slope}})
    assert [d["slope"] for d in out] == [None, 2.0, 4.0]


async def test_integral_gives_kilowatt_hours_per_meter(db: Any) -> None:
    energy = {"$integral": {"input": "$kilowatts", "unit": "hour"}}
    energy["window"] = {"range": ["unbounded", "current"], "unit": "minute"}
    spec = {"partitionBy": "$powerMeterID", "sortBy": {"timeStamp": 1}, "output": {"kwh": energy}}
    out = await windows(db, POWER, spec)
    for meter, rows in (("1", out[:4]), ("2", out[4:])):
        kw = [d["kilowatts"] for d in POWER if d["powerMeterID"] == meter]
        trapezoids = [(a + b) / 2 * 30 / 3600 for a, b in itertools.pairwise(kw)]
        expected = [sum(trapezoids[:i]) for i in range(4)]
        assert [d["powerMeterID"] for d in rows] == [meter] * 4
        assert [d["kwh"] for d in rows] == pytest.approx(expected)


async def test_integral_over_the_whole_partition_by_default(db: Any) -> None:
    docs = [{"x": x, "y": y} for x, y in ((0, 0), (1, 2), (3, 2))]
    out = await windows(
        db, docs, {"sortBy": {"x": 1}, "output": {"area": {"$integral": {"input": "$y"}}}}
    )
    assert [d["area"] for d in out] == [5.0, 5.0, 5.0]


async def test_the_window_operators_of_before_keep_working(db: Any) -> None:
    docs = [{"_id": i, "x": x} for i, x in enumerate([3, 1, 2])]
    spec = {
        "sortBy": {"x": 1},
        "output": {
            "rank": {"$rank": {}},
            "running": {"$sum": "$x", "window": {"documents": ["unbounded", "current"]}},
            "next": {"$shift": {"output": "$x", "by": 1, "default": 0}},
        },
    }
    out = await windows(db, docs, spec)
    assert [(d["x"], d["rank"], d["running"], d["next"]) for d in out] == [
        (1, 1, 1, 2), (2, 2, 3, 3), (3, 3, 6, 0)
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("sort", "output", "code"),
    [
        ({"x": 1}, {"$sum": 1, "window": {"range": [5, 1]}}, 5339900),
        ({"x": 1}, {"$sum": 1, "window": {"range": [0, 1], "documents": [0, 1]}}, 9),
        ({"x": 1}, {"$sum": 1, "window": {"documents": [0, 1], "unit": "day"}}, 9),
        ({"x": 1}, {"$sum": 1, "window": {"range": [0, 1.5], "unit": "day"}}, 9),
        ({"x": 1}, {"$sum": 1, "window": {"range": [0, 1], "unit": "fortnight"}}, 9),
        ({"x": 1}, {"$sum": 1, "window": {"range": ["now", 1]}}, 9),
        ({"x": 1}, {"$sum": 1, "window": {"range": [0, 1], "other": 1}}, 9),
        ({"x": 1, "y": 1}, {"$sum": 1, "window": {"range": [0, 1]}}, 5339902),
        (None, {"$sum": 1, "window": {"documents": [-1, 0]}}, 5339901),
        ({"x": -1}, {"$sum": 1, "window": {"range": [0, 1]}}, 8947401),
        ({"x": 1}, {"$sum": 1, "window": {"range": [0, 1], "unit": "day"}}, 5429513),
        ({"d": 1}, {"$sum": 1, "window": {"range": [0, 1]}}, 5429413),
        ({"s": 1}, {"$sum": 1, "window": {"range": [0, 1]}}, 5429414),
        ({"x": 1}, {"$derivative": {"input": "$x"}}, 9),  # no explicit window
        (None, {"$derivative": {"input": "$x"}, "window": {"documents": [-1, 0]}}, 9),
        (
            {"x": 1},
            {"$derivative": {"input": "$x", "unit": "month"}, "window": {"documents": [-1, 0]}},
            5490704,
        ),
        (
            {"x": 1},
            {"$derivative": {"input": "$x", "unit": "day"}, "window": {"documents": [-1, 0]}},
            5624900,
        ),
        ({"d": 1}, {"$derivative": {"input": "$x"}, "window": {"documents": [-1, 0]}}, 5624901),
        ({"x": 1}, {"$derivative": {"inputs": "$x"}, "window": {"documents": [-1, 0]}}, 9),
        ({"x": 1}, {"$integral": {"input": "$s"}}, 5423900),
        ({"x": 1}, {"$integral": {"input": "$x", "unit": "second"}}, 5423901),
        ({"d": 1}, {"$integral": {"input": "$x"}}, 5423902),
        ({"x": 1}, {"$sum": 1, "$max": 1}, 9),
        ({"x": 1}, {"$rank": {}, "window": {"documents": [0, 0]}}, 9),
    ],
)
async def test_malformed_windows_fail_with_mongodb_codes(
    db: Any, sort: Any, output: Any, code: int
) -> None:
    await db.c.insert_many(
        [{"x": 1, "d": T(2021, 1, 1), "s": "a"}, {"x": 2, "d": T(2021, 1, 2), "s": "b"}]
    )
    spec: dict[str, Any] = {"output": {"out": output}}
    if sort is not None:
        spec["sortBy"] = sort
    with pytest.raises(OperationFailure) as caught:
        await db.c.aggregate([{"$setWindowFields": spec}]).to_list()
    assert caught.value.code == code
