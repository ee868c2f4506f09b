"""Usage counters, charged exactly: a call's amount is held before it runs, then committed
when it succeeds or given back when it does not.

A hold is taken only while ``used + held + amount <= allowance``, in one atomic step, so
under any concurrency what is committed never passes the allowance and a failed call is
never charged. :class:`StoreLedger` serves one process on the document store;
``RedisLedger`` (``ledger_redis.py``) serves every process of a cluster.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol

from tessera.entitlements.errors import EntitlementsUnavailable

if TYPE_CHECKING:
    from tessera.entitlements.counters import Counters

logger = logging.getLogger("tessera.entitlements")

UNLIMITED = math.inf


class UsageKey(NamedTuple):
    """One counter: a user's use of one limit of one plugin in one period."""

    app_id: str
    user_id: str
    plugin: str
    limit: str
    period: str

    @property
    def id(self) -> str:
        # The unit separator cannot appear in a user id the runtime accepts unnoticed.
        return "\x1f".join(self)


@dataclass(frozen=True)
class Hold:
    """An amount set aside for one call until it is committed or given back."""

    key: UsageKey
    amount: int
    id: str


class Ledger(Protocol):
    async def hold(
        self, key: UsageKey, amount: int, allowance: float, lease: float, ends: float
    ) -> Hold | None:
        """Set ``amount`` aside when ``used + held + amount <= allowance``; None when not.
        ``lease``: seconds a hold lasts if never settled; ``ends``: when the period ends
        (unix seconds, 0 for never), after which the counter may be dropped."""

    async def commit(self, hold: Hold) -> None:
        """Charge a hold: the call succeeded."""

    async def release(self, hold: Hold) -> None:
        """Give a hold back: the call failed or never ran."""

    async def used(self, keys: list[UsageKey]) -> list[int]:
        """What each counter has charged."""

    async def roll(self, key: UsageKey) -> str | None:
        """Note that ``key``'s counter is in ``key.period``; the period it was in before
        when this is the first note of the new one (across every process sharing the
        counters), None otherwise (the same period, or the first period ever)."""


@dataclass
class _Counter:
    used: int
    held: int = 0
    unsaved: int = 0  # charged here, not yet written to the store

    @property
    def idle(self) -> bool:
        return not self.held and not self.unsaved


# Counters kept in memory before the idle ones are let go (the store has their counts).
COUNTERS_KEPT = 50_000


class StoreLedger:
    """Counters of one process, kept in memory and written through to the store.

    In one process the event loop makes the check and the hold one step (no await
    between them). Each commit adds the charge to the stored counter with one conditional
    update (:mod:`~tessera.entitlements.counters`), so a second process writing the same
    counters without Redis (an unsupported set-up) still cannot take it past the
    allowance. A charge the store failed to write stays counted here and is written with
    the next one.
    """

    def __init__(self, counters: Counters) -> None:
        self._store = counters
        self._counters: dict[UsageKey, _Counter] = {}
        self._forget_past = COUNTERS_KEPT

    async def _counter(self, key: UsageKey) -> _Counter:
        counter = self._counters.get(key)
        if counter is not None:
            return counter
        try:
            used = await self._store.load(key)
        except Exception as exc:  # whatever the store raised: no count, no call
            raise EntitlementsUnavailable(f"cannot read usage: {exc}") from exc
        if len(self._counters) >= self._forget_past:
            self._forget_idle()
        # Another call may have loaded it meanwhile: keep the first, it may hold amounts.
        return self._counters.setdefault(key, _Counter(used))

    def _forget_idle(self) -> None:
        """Let go of the counters nothing is held or unsaved on (past periods, users
        gone quiet): memory stays bounded, and the store gives their counts back."""
        counters = self._counters
        for key in [key for key, counter in counters.items() if counter.idle]:
            del counters[key]
        self._forget_past = max(COUNTERS_KEPT, 2 * len(counters))

    async def hold(
        self, key: UsageKey, amount: int, allowance: float, lease: float, ends: float
    ) -> Hold | None:
        counter = await self._counter(key)
        if counter.used + counter.held + amount > allowance:
            return None
        counter.held += amount
        return Hold(key, amount, "")  # one process: the counter itself knows its holds

    async def commit(self, hold: Hold) -> None:
        counter = self._counters[hold.key]
        counter.held -= hold.amount
        counter.used += hold.amount
        counter.unsaved += hold.amount
        amount = counter.unsaved
        try:
            # The stored count may only grow to what this process has counted.
            added = await self._store.add(hold.key, amount, counter.used)
        except Exception:
            logger.exception(
                "usage %s: charge of %d not written; kept for the next", hold.key.id, amount
            )
            return
        counter.unsaved -= amount
        if not added:
            logger.error("usage %s: the stored count is ahead of this process's", hold.key.id)

    async def release(self, hold: Hold) -> None:
        self._counters[hold.key].held -= hold.amount

    async def used(self, keys: list[UsageKey]) -> list[int]:
        counters = self._counters
        if all(key in counters for key in keys):  # the usual case: no coroutine per key
            return [counters[key].used for key in keys]
        return [(await self._counter(key)).used for key in keys]

    async def roll(self, key: UsageKey) -> str | None:
        try:
            return await self._store.roll(key)
        except Exception as exc:  # whatever the store raised: no count, no call
            raise EntitlementsUnavailable(f"cannot read usage: {exc}") from exc
