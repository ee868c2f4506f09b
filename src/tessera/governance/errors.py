"""Why a call was refused before the plugin ran.

GovernanceError
├── RoleRequired            the caller has none of the plugin's required roles
├── RateLimited             the caller's token bucket for this plugin is empty
└── TooManyConcurrentCalls  the plugin already runs its maximum number of calls
"""

from __future__ import annotations


class GovernanceError(Exception):
    """A call refused by a plugin's limits; the message is safe to show the caller."""


class RoleRequired(GovernanceError):
    """The plugin's manifest names roles and the caller has none of them."""


class RateLimited(GovernanceError):
    """The caller sent more calls than the plugin's rate limit allows."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooManyConcurrentCalls(GovernanceError):
    """The plugin is at its concurrency cap; the caller may retry shortly."""

    retry_after = 1.0
