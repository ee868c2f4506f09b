"""Usage periods roll over by the calendar in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tessera.entitlements.periods import Reset, period

SUNDAY_NIGHT = datetime(2026, 12, 6, 23, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("reset", "key", "ends"),
    [
        ("daily", "2026-12-06", datetime(2026, 12, 7, tzinfo=UTC)),
        ("weekly", "2026-W49", datetime(2026, 12, 7, tzinfo=UTC)),
        ("monthly", "2026-12", datetime(2027, 1, 1, tzinfo=UTC)),
        ("never", "all", None),
    ],
)
def test_each_period_is_named_and_ends_at_the_next_boundary(
    reset: Reset, key: str, ends: datetime | None
) -> None:
    current = period(reset, SUNDAY_NIGHT)
    assert (current.key, current.ends) == (key, ends)


def test_the_iso_week_of_new_year_belongs_to_its_year() -> None:
    assert period("weekly", datetime(2027, 1, 1, tzinfo=UTC)).key == "2026-W53"
