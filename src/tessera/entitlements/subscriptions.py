"""Tessera's own record of each user's subscription: plan, trial and plan changes.

Used when the caller's token names no plan. One document per app and user in the system
database; read on each call that needs it, so a change applies from the next call in
every process. Billing stays outside: whoever takes payments sets the plan here (admin
API, ``tessera plan set``) or in the token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tessera.entitlements.errors import EntitlementsUnavailable
from tessera.entitlements.plans import MAX_TRIAL_DAYS, Plans

COLLECTION = "subscriptions"
# Plan changes kept in a record, newest last.
HISTORY = 50


@dataclass(frozen=True)
class Subscription:
    """A user's plan as it stands now."""

    plan: str
    status: str  # active, trialing, canceled, or inactive (no record: the default plan)
    trial_start: datetime | None = None
    trial_end: datetime | None = None

    def public(self, user_id: str, now: datetime) -> dict[str, Any]:
        """The reference's ``GET /api/user-subscription`` shape."""
        trial = None
        if self.status == "trialing" and self.trial_end is not None:
            left = max(0, (self.trial_end - now).days)
            trial = {"days_remaining": left, "end_date": self.trial_end.isoformat()}
        return {
            "user_id": user_id,
            "plan": self.plan,
            "status": self.status,
            "is_trial": self.status == "trialing",
            "trial_info": trial,
        }


def _id(app_id: str, user_id: str) -> str:
    return f"{app_id}\x1f{user_id}"


def _utc(value: Any) -> datetime | None:
    """A stored time, which a store may give back without its time zone (always UTC)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


class Subscriptions:
    """The subscription records of every app's users."""

    def __init__(self, collection: Any, plans: Plans) -> None:
        self._collection = collection
        self.plans = plans

    async def ensure_collection(self) -> None:
        """Make the collection now: an embedded store shared with ``tessera plan set``
        reads what that process writes only in a collection it already knows."""
        await self._collection.create_index([("app_id", 1), ("user_id", 1)])

    async def current(self, app_id: str, user_id: str, now: datetime) -> Subscription:
        """The user's plan now: a trial past its end falls back to the default plan."""
        try:
            doc = await self._collection.find_one({"_id": _id(app_id, user_id)})
        except Exception as exc:  # whatever the store raised: no plan known, no call
            raise EntitlementsUnavailable(f"cannot read the subscription: {exc}") from exc
        return self.standing(doc, now)

    def standing(self, doc: dict[str, Any] | None, now: datetime) -> Subscription:
        default = self.plans.default_plan
        if doc is None:
            return Subscription(default, "inactive")
        start, end = _utc(doc.get("trial_start")), _utc(doc.get("trial_end"))
        if doc.get("status") == "trialing" and end is not None and now >= end:
            return Subscription(default, "expired", start, end)
        if doc.get("status") == "canceled" or doc.get("plan") not in self.plans.plans:
            return Subscription(default, str(doc.get("status", "inactive")), start, end)
        return Subscription(str(doc["plan"]), str(doc["status"]), start, end)

    async def set_plan(
        self,
        app_id: str,
        user_id: str,
        plan: str,
        now: datetime,
        *,
        by: str,
        trial_days: int | None = None,
    ) -> Subscription:
        """Put the user on ``plan`` from now; with ``trial_days``, as a trial that ends
        then. ValueError for a plan the plans file does not list or a trial longer than
        MAX_TRIAL_DAYS (past it, the end date leaves the calendar)."""
        if plan not in self.plans.plans:
            names = ", ".join(self.plans.plans)
            raise ValueError(f"Unknown plan {plan!r}; the plans are: {names}.")
        if trial_days is not None and trial_days > MAX_TRIAL_DAYS:
            raise ValueError(f"A trial lasts at most {MAX_TRIAL_DAYS} days, not {trial_days}.")
        fields: dict[str, Any] = {"plan": plan, "status": "active", "updated_at": now}
        fields.update(trial_start=None, trial_end=None)
        if trial_days is not None:
            end = now + timedelta(days=trial_days)
            fields.update(status="trialing", trial_start=now, trial_end=end)
        await self._write(app_id, user_id, fields, {"plan": plan, "at": now, "by": by})
        return self.standing(fields, now)

    async def cancel(self, app_id: str, user_id: str, now: datetime, *, by: str) -> Subscription:
        """End the user's plan: the default plan applies from the next call."""
        fields = {"status": "canceled", "updated_at": now}
        await self._write(app_id, user_id, fields, {"plan": None, "at": now, "by": by})
        return Subscription(self.plans.default_plan, "canceled")

    async def _write(
        self, app_id: str, user_id: str, fields: dict[str, Any], change: dict[str, Any]
    ) -> None:
        try:
            await self._collection.update_one(
                {"_id": _id(app_id, user_id)},
                {
                    "$set": fields,
                    "$setOnInsert": {"app_id": app_id, "user_id": user_id},
                    "$push": {"history": {"$each": [change], "$slice": -HISTORY}},
                },
                upsert=True,
            )
        except Exception as exc:  # whatever the store raised: the plan stays as it was
            raise EntitlementsUnavailable(f"cannot write the subscription: {exc}") from exc
