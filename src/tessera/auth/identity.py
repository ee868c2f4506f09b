"""Who is calling: the verified identity the runtime injects into every plugin call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

_NO_ENTITLEMENTS: Mapping[str, Any] = MappingProxyType({})


def _no_entitlements() -> Mapping[str, Any]:
    return _NO_ENTITLEMENTS


@dataclass(frozen=True, slots=True)
class Identity:
    """A caller whose token has been verified; immutable so it can be cached and shared."""

    user_id: str
    username: str
    app_id: str
    roles: tuple[str, ...] = ()
    is_superadmin: bool = False
    #: The subscription plan the token names; None leaves it to Tessera's own record.
    plan: str | None = None
    # Left out of the hash: a mapping is not hashable, and identities are cache values.
    entitlements: Mapping[str, Any] = field(default_factory=_no_entitlements, hash=False)

    def context(self) -> dict[str, Any]:
        """The ``_context`` dict injected into plugin calls (a fresh copy each time)."""
        return {
            "app_id": self.app_id,
            "user_id": self.user_id,
            "username": self.username,
            "roles": list(self.roles),
            "is_superadmin": self.is_superadmin,
        }
