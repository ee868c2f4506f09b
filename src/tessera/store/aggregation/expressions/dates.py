"""Date operators: parts, formatting and parsing, arithmetic, truncation and differences."""

import datetime
import re
from calendar import monthrange
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.timestamp import Timestamp

from tessera.store.aggregation.expressions.core import (
    Scope,
    arity_error,
    failure,
    integer_arg,
    named_args,
    nullish,
    special,
    truthy,
    type_name,
)

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


class ConversionError(Exception):
    """A value that $convert cannot turn into the target type (MongoDB code 241)."""


def to_millis(date: datetime.datetime) -> int:
    """Milliseconds since the Unix epoch; a naive `date` is UTC."""
    if date.tzinfo is None:
        date = date.replace(tzinfo=datetime.UTC)
    delta = date - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_millis(millis: int) -> datetime.datetime:
    """The naive UTC datetime `millis` milliseconds after the Unix epoch."""
    return datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=millis)


_UTC_NAMES = frozenset({"UTC", "GMT", "Etc/UTC", "Etc/GMT"})
_OFFSET = re.compile(r"([+-])([0-9]{2}):?([0-9]{2})?")
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAY_UNITS = {"day": 1, "week": 7}
_TIME_UNITS = {"hour": 3_600_000, "minute": 60_000, "second": 1000, "millisecond": 1}
_MONTH_UNITS = {"year": 12, "quarter": 3, "month": 1}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def date_of(value: Any, name: str = "date") -> datetime.datetime:
    """The date a date, ObjectId or Timestamp stands for; error 16006 otherwise."""
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, ObjectId):
        return value.generation_time
    if isinstance(value, Timestamp):
        return value.as_datetime()
    raise failure(16006, f"can't convert from BSON type {type_name(value)} to Date")


def as_utc(date: datetime.datetime) -> datetime.datetime:
    """`date` as an aware UTC datetime; a naive one is taken to be UTC already."""
    if date.tzinfo is None:
        return date.replace(tzinfo=datetime.UTC)
    return date.astimezone(datetime.UTC)


def naive(date: datetime.datetime) -> datetime.datetime:
    """A naive UTC datetime with millisecond precision, as PyMongo returns dates."""
    date = date.astimezone(datetime.UTC).replace(tzinfo=None) if date.tzinfo else date
    return date.replace(microsecond=date.microsecond // 1000 * 1000)


def _timezone(value: Any) -> datetime.tzinfo:
    if nullish(value):
        return datetime.UTC
    if not isinstance(value, str):
        raise failure(40517, f"timezone must evaluate to a string, found {type_name(value)}")
    match = _OFFSET.fullmatch(value)
    if match:
        sign, hours, minutes = match.groups()
        offset = datetime.timedelta(hours=int(hours), minutes=int(minutes or 0))
        return datetime.timezone(-offset if sign == "-" else offset)
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise failure(40485, f'unrecognized time zone identifier: "{value}"') from None


def parse_date(text: str, zone: datetime.tzinfo = datetime.UTC) -> datetime.datetime:
    """An ISO 8601 date string as a naive UTC datetime, read in `zone` when it has none."""
    try:
        parsed = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConversionError(f"Error parsing date string '{text}'") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return naive(parsed)


def _local_date(name: str, raw: Any, scope: Scope) -> datetime.datetime | None:
    """The date argument of a date-part operator, in its timezone; None for null."""
    zone_expr = None
    if isinstance(raw, list):
        if len(raw) != 1:
            raise arity_error(name, 1, len(raw))
        raw = raw[0]
    if isinstance(raw, Mapping) and "date" in raw:
        spec = named_args(name, raw, ("date",), ("timezone",))
        raw, zone_expr = spec["date"], spec.get("timezone")
    value = scope.eval(raw)
    zone = scope.eval(zone_expr)
    if nullish(value) or (zone_expr is not None and nullish(zone)):
        return None
    return as_utc(date_of(value)).astimezone(_timezone(zone))


def _date_part(name: str, part: Callable[[datetime.datetime], int]) -> None:
    @special(name)
    def op(raw: Any, scope: Scope) -> Any:
        date = _local_date(name, raw, scope)
        return None if date is None else part(date)


for _name, _part in (
    ("$year", lambda d: d.year),
    ("$month", lambda d: d.month),
    ("$dayOfMonth", lambda d: d.day),
    ("$hour", lambda d: d.hour),
    ("$minute", lambda d: d.minute),
    ("$second", lambda d: d.second),
    ("$millisecond", lambda d: d.microsecond // 1000),
    ("$dayOfYear", lambda d: d.timetuple().tm_yday),
    ("$dayOfWeek", lambda d: d.isoweekday() % 7 + 1),
    ("$week", lambda d: int(d.strftime("%U"))),
    ("$isoWeek", lambda d: d.isocalendar().week),
    ("$isoWeekYear", lambda d: d.isocalendar().year),
    ("$isoDayOfWeek", lambda d: d.isoweekday()),
):
    _date_part(_name, _part)


def _offset_minutes(date: datetime.datetime) -> int:
    offset = date.utcoffset() or datetime.timedelta()
    return int(offset.total_seconds()) // 60


def _format_specifier(date: datetime.datetime, letter: str) -> str:
    iso = date.isocalendar()
    minutes = _offset_minutes(date)
    sign = "-" if minutes < 0 else "+"
    table: dict[str, Callable[[], str]] = {
        "Y": lambda: f"{date.year:04d}",
        "m": lambda: f"{date.month:02d}",
        "d": lambda: f"{date.day:02d}",
        "H": lambda: f"{date.hour:02d}",
        "M": lambda: f"{date.minute:02d}",
        "S": lambda: f"{date.second:02d}",
        "L": lambda: f"{date.microsecond // 1000:03d}",
        "j": lambda: f"{date.timetuple().tm_yday:03d}",
        "w": lambda: str(date.isoweekday() % 7 + 1),
        "u": lambda: str(iso.weekday),
        "U": lambda: date.strftime("%U"),
        "V": lambda: f"{iso.week:02d}",
        "G": lambda: f"{iso.year:04d}",
        "z": lambda: f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}",
        "Z": lambda: f"{sign}{abs(minutes)}",
        "b": lambda: _MONTHS[date.month - 1][:3],
        "B": lambda: _MONTHS[date.month - 1],
        "%": lambda: "%",
    }
    if letter not in table:
        raise failure(18536, f"Invalid format character '%{letter}' in format string")
    return table[letter]()


def format_date(date: datetime.datetime, fmt: str) -> str:
    """`date` written with `$dateToString` format specifiers (``%Y``, ``%m``, ...)."""
    out = []
    i = 0
    while i < len(fmt):
        if fmt[i] == "%":
            if i + 1 == len(fmt):
                raise failure(18535, "Unmatched '%' at end of format string")
            out.append(_format_specifier(date, fmt[i + 1]))
            i += 2
        else:
            out.append(fmt[i])
            i += 1
    return "".join(out)


@special("$dateToString")
def _date_to_string(raw: Any, scope: Scope) -> Any:
    spec = named_args("$dateToString", raw, ("date",), ("format", "timezone", "onNull"))
    value = scope.eval(spec["date"])
    fmt = scope.eval(spec.get("format"))
    zone = scope.eval(spec.get("timezone"))
    if nullish(value):
        return scope.eval(spec["onNull"]) if "onNull" in spec else None
    if ("format" in spec and nullish(fmt)) or ("timezone" in spec and nullish(zone)):
        return None
    if fmt is not None and not isinstance(fmt, str):
        raise failure(
            18533, f"$dateToString requires that 'format' be a string, found: {type_name(fmt)}"
        )
    date = as_utc(date_of(value)).astimezone(_timezone(zone))
    utc = nullish(zone) or zone in _UTC_NAMES or _timezone(zone) == datetime.UTC
    # The default format ends in "Z" only when the result is in UTC.
    default = "%Y-%m-%dT%H:%M:%S.%LZ" if utc else "%Y-%m-%dT%H:%M:%S.%L"
    return format_date(date, fmt or default)


_STRPTIME = {"L": "%f", "Z": None, "%": "%%"}


@special("$dateFromString")
def _date_from_string(raw: Any, scope: Scope) -> Any:
    spec = named_args(
        "$dateFromString", raw, ("dateString",), ("format", "timezone", "onError", "onNull")
    )
    text = scope.eval(spec["dateString"])
    zone = _timezone(scope.eval(spec.get("timezone")))
    if nullish(text):
        return scope.eval(spec["onNull"]) if "onNull" in spec else None
    try:
        if not isinstance(text, str):
            raise ConversionError(
                f"$dateFromString requires that 'dateString' be a string, found: {type_name(text)}"
            )
        fmt = scope.eval(spec.get("format"))
        if fmt is None:
            return parse_date(text, zone)
        pattern = re.sub(r"%(.)", lambda m: _STRPTIME.get(m[1], m[0]) or "\0", fmt)
        if "\0" in pattern:
            raise failure(18536, f"Invalid format character in format string: {fmt}")
        try:
            parsed = datetime.datetime.strptime(text, pattern)
        except ValueError:
            raise ConversionError(
                f"Error parsing date string '{text}' with format '{fmt}'"
            ) from None
        return naive(parsed if parsed.tzinfo else parsed.replace(tzinfo=zone))
    except ConversionError as error:
        if "onError" in spec:
            return scope.eval(spec["onError"])
        raise failure(241, str(error)) from None


_PART_DEFAULTS = {"month": 1, "day": 1, "hour": 0, "minute": 0, "second": 0, "millisecond": 0}


@special("$dateFromParts")
def _date_from_parts(raw: Any, scope: Scope) -> Any:
    spec = named_args("$dateFromParts", raw, ("year",), (*_PART_DEFAULTS, "timezone"))
    parts = {k: scope.eval(spec.get(k, default)) for k, default in _PART_DEFAULTS.items()}
    year = scope.eval(spec["year"])
    zone = scope.eval(spec.get("timezone"))
    if nullish(year) or any(nullish(v) for v in parts.values()):
        return None
    year = integer_arg("$dateFromParts", "year", year, 40515)
    if not 1 <= year <= 9999:
        raise failure(
            40523, f"'year' must evaluate to an integer in the range 1 to 9999, found {year}"
        )
    values = {k: integer_arg("$dateFromParts", k, v, 40515) for k, v in parts.items()}
    years, month = divmod(values["month"] - 1, 12)
    start = datetime.datetime(year + years, month + 1, 1, tzinfo=_timezone(zone))
    local = start + datetime.timedelta(
        days=values["day"] - 1,
        hours=values["hour"],
        minutes=values["minute"],
        seconds=values["second"],
        milliseconds=values["millisecond"],
    )
    return naive(local)


@special("$dateToParts")
def _date_to_parts(raw: Any, scope: Scope) -> Any:
    spec = named_args("$dateToParts", raw, ("date",), ("timezone", "iso8601"))
    date = _local_date(
        "$dateToParts", {k: spec[k] for k in ("date", "timezone") if k in spec}, scope
    )
    if date is None:
        return None
    tail = {
        "hour": date.hour,
        "minute": date.minute,
        "second": date.second,
        "millisecond": date.microsecond // 1000,
    }
    if truthy(scope.eval(spec.get("iso8601", False))):
        iso = date.isocalendar()
        return {"isoWeekYear": iso.year, "isoWeek": iso.week, "isoDayOfWeek": iso.weekday, **tail}
    return {"year": date.year, "month": date.month, "day": date.day, **tail}


def _unit(name: str, value: Any) -> str:
    if not isinstance(value, str) or value not in (*_MONTH_UNITS, *_DAY_UNITS, *_TIME_UNITS):
        raise failure(9, f"{name}: unknown time unit value: {value}")
    return value


def _add_months(date: datetime.datetime, months: int) -> datetime.datetime:
    """`date` moved by whole months, the day clamped to the target month's length."""
    years, month = divmod(date.month - 1 + months, 12)
    year, month = date.year + years, month + 1
    return date.replace(year=year, month=month, day=min(date.day, monthrange(year, month)[1]))


def _date_arith(name: str, sign: int) -> None:
    @special(name)
    def op(raw: Any, scope: Scope) -> Any:
        spec = named_args(name, raw, ("startDate", "unit", "amount"), ("timezone",))
        start, unit, amount, zone = (
            scope.eval(spec.get(k)) for k in ("startDate", "unit", "amount", "timezone")
        )
        if nullish(start) or nullish(unit) or nullish(amount):
            return None
        unit = _unit(name, unit)
        count = sign * integer_arg(name, "amount", amount, 5166402)
        local = as_utc(date_of(start)).astimezone(_timezone(zone))
        if unit in _MONTH_UNITS:
            local = _add_months(local, count * _MONTH_UNITS[unit])
        elif unit in _DAY_UNITS:
            # Whole days move the wall clock, so they stay put across a DST change.
            naive_local = local.replace(tzinfo=None) + datetime.timedelta(
                days=count * _DAY_UNITS[unit]
            )
            local = naive_local.replace(tzinfo=local.tzinfo)
        else:
            # Hours and less are elapsed time, whatever the wall clock does meanwhile.
            utc = as_utc(date_of(start)) + datetime.timedelta(
                milliseconds=count * _TIME_UNITS[unit]
            )
            return naive(utc)
        return naive(local)


_date_arith("$dateAdd", 1)
_date_arith("$dateSubtract", -1)


# $dateTrunc counts bins of `binSize` units from this local time, as MongoDB does.
_TRUNC_REFERENCE = datetime.datetime(2000, 1, 1)


def _week_start(date: datetime.datetime, first_day: str) -> datetime.date:
    offset = (date.weekday() - _WEEKDAYS.index(first_day)) % 7
    return date.date() - datetime.timedelta(days=offset)


def _first_week_start(first_day: str) -> datetime.date:
    """The first day starting a week on or after 2000-01-01: week bins count from it."""
    offset = (_WEEKDAYS.index(first_day) - _TRUNC_REFERENCE.weekday()) % 7
    return _TRUNC_REFERENCE.date() + datetime.timedelta(days=offset)


def _first_day(value: Any) -> str:
    """The weekday a week starts on, from MongoDB's `startOfWeek` ("mon", "Monday", ...)."""
    text = str(value).lower()
    for day in _WEEKDAYS:
        if len(text) >= 3 and day.startswith(text):
            return day
    raise failure(5439015, f"unknown startOfWeek value: {value}")


@special("$dateTrunc")
def _date_trunc(raw: Any, scope: Scope) -> Any:
    spec = named_args("$dateTrunc", raw, ("date", "unit"), ("binSize", "timezone", "startOfWeek"))
    value, unit, size, zone = (
        scope.eval(spec.get(k, 1 if k == "binSize" else None))
        for k in ("date", "unit", "binSize", "timezone")
    )
    if nullish(value) or nullish(unit) or nullish(size):
        return None
    unit = _unit("$dateTrunc", unit)
    bins = integer_arg("$dateTrunc", "binSize", size, 5439017)
    if bins < 1:
        raise failure(
            5439018, f"$dateTrunc requires 'binSize' to be greater than 0, but got {bins}"
        )
    tz = _timezone(zone)
    local = as_utc(date_of(value)).astimezone(tz).replace(tzinfo=None)
    if unit in _MONTH_UNITS:
        months = (local.year - 2000) * 12 + local.month - 1
        months -= months % (bins * _MONTH_UNITS[unit])
        start = datetime.datetime(2000 + months // 12, months % 12 + 1, 1)
    elif unit == "week":
        first_day = _first_day(scope.eval(spec.get("startOfWeek", "sunday")))
        reference = _first_week_start(first_day)
        weeks = (_week_start(local, first_day) - reference).days // 7
        start = datetime.datetime.combine(reference, datetime.time()) + datetime.timedelta(
            weeks=weeks - weeks % bins
        )
    else:
        step = bins * (86_400_000 if unit == "day" else _TIME_UNITS[unit])
        elapsed = to_millis(local) - to_millis(_TRUNC_REFERENCE)
        start = from_millis(to_millis(_TRUNC_REFERENCE) + elapsed - elapsed % step)
    return naive(start.replace(tzinfo=tz))


@special("$dateDiff")
def _date_diff(raw: Any, scope: Scope) -> Any:
    spec = named_args(
        "$dateDiff", raw, ("startDate", "endDate", "unit"), ("timezone", "startOfWeek")
    )
    start, end, unit, zone = (
        scope.eval(spec.get(k)) for k in ("startDate", "endDate", "unit", "timezone")
    )
    if nullish(start) or nullish(end) or nullish(unit):
        return None
    unit = _unit("$dateDiff", unit)
    tz = _timezone(zone)
    a = as_utc(date_of(start)).astimezone(tz)
    b = as_utc(date_of(end)).astimezone(tz)
    if unit in _MONTH_UNITS:
        size = _MONTH_UNITS[unit]
        return Int64((b.year * 12 + b.month - 1) // size - (a.year * 12 + a.month - 1) // size)
    if unit == "week":
        first_day = _first_day(scope.eval(spec.get("startOfWeek", "sunday")))
        return Int64((_week_start(b, first_day) - _week_start(a, first_day)).days // 7)
    if unit == "day":
        return Int64((b.date() - a.date()).days)
    size = _TIME_UNITS[unit]
    return Int64(to_millis(b) // size - to_millis(a) // size)
