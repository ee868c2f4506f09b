"""Rate limits written as ``"N/unit"`` and the in-process token buckets that enforce them."""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

_UNITS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)s?\s*$")


@dataclass(frozen=True, slots=True)
class Rate:
    """``requests`` calls per ``period`` seconds, with bursts up to ``requests``."""

    requests: int
    period: float

    @property
    def per_second(self) -> float:
        return self.requests / self.period


def parse_rate(text: str) -> Rate:
    """Parse ``"60/minute"`` (units: second, minute, hour, day); ValueError otherwise."""
    match = _RATE.match(text)
    if match is None or int(match.group(1)) == 0:
        raise ValueError(
            f"rate limit {text!r} is not of the form 'N/second', 'N/minute', 'N/hour' or "
            "'N/day' with N > 0"
        )
    return Rate(int(match.group(1)), _UNITS[match.group(2)])


def refilled(tokens: float, elapsed: float, rate: Rate) -> float:
    """A bucket's tokens ``elapsed`` seconds after it held ``tokens``."""
    return min(float(rate.requests), tokens + max(0.0, elapsed) * rate.per_second)


def shortfall(tokens: float, rate: Rate) -> float:
    """Seconds until a bucket holding ``tokens`` holds one; 0 when it does now."""
    return 0.0 if tokens >= 1.0 else (1.0 - tokens) / rate.per_second


class TokenBuckets:
    """One token bucket per key, kept for the most recently seen ``max_keys`` keys."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._buckets: OrderedDict[object, tuple[float, float]] = OrderedDict()
        self._max_keys = max_keys

    def take_all(self, limits: Iterable[tuple[object, Rate]]) -> float:
        """One token from each ``(key, rate)`` bucket, or from none when any is empty.

        Answers 0 when the call may go ahead, else the seconds until every bucket has a
        token. Taking from none keeps a refused call from spending the budgets that did
        allow it (an address's own budget, say, when only a username's is empty).
        """
        now = time.monotonic()
        filled = []
        wait = 0.0
        for key, rate in limits:
            tokens, last = self._buckets.pop(key, (rate.requests, now))
            tokens = refilled(tokens, now - last, rate)
            wait = max(wait, shortfall(tokens, rate))
            filled.append((key, tokens))
        spent = 1.0 if wait == 0.0 else 0.0
        for key, tokens in filled:
            self._buckets[key] = (tokens - spent, now)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return wait
