"""Usage periods: calendar days, ISO weeks and months in UTC, and when each ends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Literal, NamedTuple

Reset = Literal["monthly", "weekly", "daily", "never"]
RESETS: tuple[Reset, ...] = ("monthly", "weekly", "daily", "never")

#: What the entitlements read the time from; tests replace it to cross a period boundary.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def period_key(reset: Reset, now: datetime) -> str:
    """The name of the period holding ``now``: ``2026-12``, ``2026-W49``, ``2026-12-07``;
    ``all`` for a limit that never resets."""
    if reset == "monthly":
        return f"{now.year:04d}-{now.month:02d}"
    if reset == "weekly":
        year, week, _ = now.isocalendar()
        return f"{year:04d}-W{week:02d}"
    if reset == "daily":
        return now.strftime("%Y-%m-%d")
    return "all"


class Period(NamedTuple):
    """One period of a reset: its name, when it ends, that time as ISO 8601 and as unix
    seconds (0 for never)."""

    key: str
    ends: datetime | None
    ends_iso: str | None
    ends_at: float


_PERIODS: dict[tuple[Reset, date], Period] = {}


def period(reset: Reset, now: datetime) -> Period:
    """The period holding ``now``, remembered per day: every call of a gated action asks."""
    found = _PERIODS.get((reset, now.date()))
    if found is None:
        if len(_PERIODS) > 64:  # days gone by
            _PERIODS.clear()
        ends = period_end(reset, now)
        iso, at = (ends.isoformat(), ends.timestamp()) if ends else (None, 0.0)
        found = Period(period_key(reset, now), ends, iso, at)
        _PERIODS[(reset, now.date())] = found
    return found


def period_end(reset: Reset, now: datetime) -> datetime | None:
    """When the period holding ``now`` ends (the next one starts); None for ``never``."""
    day = datetime(now.year, now.month, now.day, tzinfo=UTC)
    if reset == "daily":
        return day + timedelta(days=1)
    if reset == "weekly":
        return day + timedelta(days=7 - now.weekday())
    if reset == "monthly":
        if now.month == 12:
            return datetime(now.year + 1, 1, 1, tzinfo=UTC)
        return datetime(now.year, now.month + 1, 1, tzinfo=UTC)
    return None
