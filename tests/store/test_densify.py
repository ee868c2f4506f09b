"""$densify, on the MongoDB manual's examples: the gaps of a numeric or date sequence are
filled, within partitions, over the whole range, each partition's own, or given bounds."""

import datetime
from typing import Any

import pytest
from pymongo.errors import OperationFailure

SENSOR = {"sensorId": 5578, "type": "temperature"}
READINGS = [
    {"metadata": SENSOR, "timestamp": datetime.datetime(2021, 5, 18, hour), "temp": temp}
    for hour, temp in ((0, 12), (4, 11), (8, 11), (12, 12))
]
COFFEE = [
    {"altitude": 600, "variety": "Arabica Typica", "score": 68.3},
    {"altitude": 750, "variety": "Arabica Typica", "score": 69.5},
    {"altitude": 950, "variety": "Arabica Typica", "score": 70.5},
    {"altitude": 1250, "variety": "Gesha", "score": 88.15},
    {"altitude": 1700, "variety": "Gesha", "score": 95.5, "price": 1029},
]


async def densify(db: Any, docs: list[dict[str, Any]], spec: Any) -> list[dict[str, Any]]:
    if docs:
        await db.c.insert_many([dict(d) for d in docs])
    return await db.c.aggregate([{"$unset": "_id"}, {"$densify": spec}]).to_list()


async def test_hours_within_explicit_date_bounds(db: Any) -> None:
    bounds = [datetime.datetime(2021, 5, 18, 0), datetime.datetime(2021, 5, 18, 8)]
    spec = {"field": "timestamp", "range": {"step": 1, "unit": "hour", "bounds": bounds}}
    out = await densify(db, READINGS, spec)
    generated = [{"timestamp": datetime.datetime(2021, 5, 18, h)} for h in (1, 2, 3, 5, 6, 7)]
    assert out == [
        READINGS[0], *generated[:3], READINGS[1], *generated[3:], READINGS[2], READINGS[3]
    ]  # fmt: skip


async def test_full_bounds_fill_every_partition_over_the_whole_range(db: Any) -> None:
    spec = {"field": "altitude", "partitionByFields": ["variety"], "range": {"bounds": "full"}}
    spec["range"]["step"] = 200
    out = await densify(db, COFFEE, spec)
    created = sorted((d["variety"], d["altitude"]) for d in out if "score" not in d)
    assert created == [
        *(("Arabica Typica", a) for a in (800, 1000, 1200, 1400, 1600)),
        *(("Gesha", a) for a in (600, 800, 1000, 1200, 1400, 1600)),
    ]
    assert [d for d in out if "score" in d] == COFFEE
    assert [d["altitude"] for d in out] == sorted(d["altitude"] for d in out)


async def test_partition_bounds_fill_each_partitions_own_range(db: Any) -> None:
    spec = {"field": "altitude", "partitionByFields": ["variety"], "range": {"step": 200}}
    spec["range"]["bounds"] = "partition"
    assert await densify(db, COFFEE, spec) == [
        COFFEE[0], COFFEE[1], {"variety": "Arabica Typica", "altitude": 800}, COFFEE[2],
        COFFEE[3], {"variety": "Gesha", "altitude": 1450}, {"variety": "Gesha", "altitude": 1650},
        COFFEE[4],
    ]  # fmt: skip


async def test_numbers_off_the_step_and_missing_values(db: Any) -> None:
    docs = [{"v": 0}, {"v": 3.5}, {"v": None}, {"other": 1}, {"v": 10}]
    out = await densify(db, docs, {"field": "v", "range": {"step": 2, "bounds": "full"}})
    assert out == [
        {"v": None}, {"other": 1}, {"v": 0}, {"v": 2}, {"v": 3.5}, {"v": 4}, {"v": 6},
        {"v": 8}, {"v": 10},
    ]  # fmt: skip


async def test_explicit_bounds_are_filled_even_without_documents(db: Any) -> None:
    out = await densify(db, [], {"field": "n", "range": {"step": 5, "bounds": [0, 20]}})
    assert out == [{"n": 0}, {"n": 5}, {"n": 10}, {"n": 15}]


async def test_months_step_on_the_calendar(db: Any) -> None:
    docs = [{"d": datetime.datetime(2021, 1, 31)}, {"d": datetime.datetime(2021, 4, 30)}]
    spec = {"field": "d", "range": {"step": 1, "unit": "month", "bounds": "full"}}
    out = await densify(db, docs, spec)
    assert [d["d"] for d in out] == [
        datetime.datetime(2021, 1, 31),
        datetime.datetime(2021, 2, 28),
        datetime.datetime(2021, 3, 28),
        datetime.datetime(2021, 4, 28),
        datetime.datetime(2021, 4, 30),
    ]


def on_v(**range_: Any) -> dict[str, Any]:
    return {"field": "v", "range": range_}


@pytest.mark.parametrize(
    ("docs", "spec", "code"),
    [
        ([{"v": 1}], on_v(step=0, bounds="full"), 5733401),
        ([{"v": 1}], on_v(step=1, bounds="partition"), 5733408),
        ([{"v": 1}], on_v(step=1, bounds="all"), 5946802),
        ([{"v": 1}], on_v(step=1, bounds=[2, 1]), 5733402),
        ([{"v": 1}], on_v(step=1, bounds=[1]), 5733403),
        ([{"v": 1}], on_v(step=1, bounds=[1, 2.5]), 5876900),
        ([{"v": 1}], on_v(step=1, unit="day", bounds=[1, 2]), 5733409),
        ([{"v": 1}], on_v(step=1, unit="day", bounds="full"), 6053600),
        ([{"v": "a"}], on_v(step=1, bounds="full"), 5733201),
        ([{"v": 1}], on_v(step=0.5, unit="day", bounds="full"), 6586400),
        ([{"v": 1}], on_v(step=1), 40414),
        ([{"v": 1}], {**on_v(step=1, bounds="full"), "sortBy": 1}, 40415),
    ],
)
async def test_bad_specifications_fail_with_mongodbs_codes(
    db: Any, docs: list[dict[str, Any]], spec: Any, code: int
) -> None:
    with pytest.raises(OperationFailure) as caught:
        await densify(db, docs, spec)
    assert caught.value.code == code
