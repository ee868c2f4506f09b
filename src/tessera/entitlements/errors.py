"""Why plans or entitlements refused a call, or could not be read.

EntitlementError
├── ConfigError             the plans file or an entitlements.yaml is unreadable or invalid
├── Refused                 the caller's plan does not allow the call
│   ├── PlanRequired        403  the plan does not unlock the plugin
│   ├── FeatureRequired     403  the action needs a feature the plan lacks
│   └── LimitReached        429  the action would take a limit past its allowance
└── EntitlementsUnavailable 503  the store or Redis holding plans and usage failed
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar


class EntitlementError(Exception):
    """Base class of the entitlement errors."""


class ConfigError(EntitlementError):
    """A plans file or an ``entitlements.yaml`` cannot be used; the message names the file
    and the path in the document."""


class Refused(EntitlementError):
    """The caller's plan does not allow the call; ``details`` go into the error body."""

    status: ClassVar[int] = 403
    code: ClassVar[str] = "forbidden"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details


class PlanRequired(Refused):
    """The plan does not unlock the plugin; ``details["plans"]`` name those that do."""

    code = "plan_required"


class FeatureRequired(Refused):
    """The action needs a feature that is off on the caller's plan."""

    code = "feature_required"


class LimitReached(Refused):
    """The action would take a consumable limit past what the plan allows."""

    status = 429
    code = "limit_reached"

    def __init__(self, message: str, resets_at: datetime | None, **details: Any) -> None:
        super().__init__(message, resets_at=resets_at.isoformat() if resets_at else None, **details)
        self.resets_at = resets_at


class EntitlementsUnavailable(EntitlementError):
    """What decides a call (a subscription record, a usage counter) could not be read or
    written: the call is refused, never let through uncounted."""
