"""Date arithmetic across daylight-saving changes and week bins, as the MongoDB manual
describes them: units of a day or more follow the local calendar, smaller ones elapse;
week bins count from the first start of week on or after 2000-01-01."""

import datetime as dt
from typing import Any

import pytest

# New York moved its clocks forward at 2021-03-14 02:00 local time.
BEFORE_DST = dt.datetime(2021, 3, 13, 12)  # 07:00 EST


@pytest.mark.parametrize(
    ("unit", "amount", "expected"),
    [
        ("day", 1, dt.datetime(2021, 3, 14, 11)),  # 07:00 EDT the next day
        ("hour", 24, dt.datetime(2021, 3, 14, 12)),  # 24 hours later: 08:00 EDT
        ("hour", 1, dt.datetime(2021, 3, 13, 13)),
        ("minute", 24 * 60, dt.datetime(2021, 3, 14, 12)),
        ("week", 1, dt.datetime(2021, 3, 20, 11)),
        ("month", 1, dt.datetime(2021, 4, 13, 11)),
    ],
)
async def test_date_add_across_a_dst_change(
    db: Any, unit: str, amount: int, expected: dt.datetime
) -> None:
    await db.c.insert_one({"_id": 1, "d": BEFORE_DST})
    spec = {"startDate": "$d", "unit": unit, "amount": amount, "timezone": "America/New_York"}
    (doc,) = await db.c.aggregate([{"$project": {"_id": 0, "r": {"$dateAdd": spec}}}]).to_list()
    assert doc["r"] == expected
    back = {**spec, "startDate": "$r"}
    pipeline = [
        {"$project": {"r": {"$dateAdd": spec}}},
        {"$project": {"b": {"$dateSubtract": back}}},
    ]
    (doc,) = await db.c.aggregate(pipeline).to_list()
    assert doc["b"] == BEFORE_DST


# The manual's orders, truncated to two-week bins starting on Monday in Los Angeles.
ORDERS = [
    (dt.datetime(2020, 5, 18, 14, 10, 30), dt.datetime(2020, 5, 11, 7)),
    (dt.datetime(2021, 3, 20, 11, 30, 5), dt.datetime(2021, 3, 15, 7)),
    (dt.datetime(2021, 1, 11, 6, 31, 15), dt.datetime(2021, 1, 4, 8)),
    (dt.datetime(2020, 2, 8, 13, 13, 23), dt.datetime(2020, 2, 3, 8)),
    (dt.datetime(2019, 5, 18, 16, 9, 1), dt.datetime(2019, 5, 13, 7)),
    (dt.datetime(2019, 1, 8, 6, 12, 3), dt.datetime(2019, 1, 7, 8)),
    (dt.datetime(2020, 1, 8, 6, 12, 3), dt.datetime(2020, 1, 6, 8)),
]


async def test_date_trunc_two_week_bins_from_the_first_monday_of_2000(db: Any) -> None:
    await db.orders.insert_many([{"_id": i, "d": d} for i, (d, _) in enumerate(ORDERS)])
    trunc = {
        "date": "$d",
        "unit": "week",
        "binSize": 2,
        "timezone": "America/Los_Angeles",
        "startOfWeek": "Monday",
    }
    pipeline = [{"$sort": {"_id": 1}}, {"$project": {"t": {"$dateTrunc": trunc}}}]
    found = await db.orders.aggregate(pipeline).to_list()
    assert [doc["t"] for doc in found] == [t for _, t in ORDERS]
