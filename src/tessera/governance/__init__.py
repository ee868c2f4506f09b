"""Per-plugin governance: roles, rate limits, concurrency caps, size limits, the watchdog."""

from tessera.governance.errors import (
    GovernanceError,
    RateLimited,
    RoleRequired,
    TooManyConcurrentCalls,
)
from tessera.governance.governor import Governor, Limits
from tessera.governance.rates import Rate, parse_rate

__all__ = [
    "GovernanceError",
    "Governor",
    "Limits",
    "Rate",
    "RateLimited",
    "RoleRequired",
    "TooManyConcurrentCalls",
    "parse_rate",
]
