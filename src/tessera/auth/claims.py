"""Turning verified token claims into an ``Identity``, with configurable claim names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tessera.auth.errors import InvalidClaims
from tessera.auth.identity import Identity

_MISSING = object()


def claim(claims: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` in ``claims``; a dotted path such as ``realm_access.roles``
    walks nested objects. A key that itself contains the dot wins, as some providers
    publish namespaced claim names like ``https://example.com/roles``."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


@dataclass(frozen=True, slots=True)
class ClaimMap:
    """Which claim holds each part of an identity; each name may be a dotted path."""

    user_id: str = "sub"
    username: str = "username"
    roles: str = "roles"
    superadmin: str = "is_superadmin"
    app_id: str = "app_id"
    plan: str = "plan"

    def identity(self, claims: Mapping[str, Any], *, default_app_id: str) -> Identity:
        """The identity the claims describe; ``InvalidClaims`` when the user id is absent
        or a claim has the wrong type."""
        user_id = claim(claims, self.user_id)
        if isinstance(user_id, int) and not isinstance(user_id, bool):
            user_id = str(user_id)
        if not isinstance(user_id, str) or not user_id:
            raise InvalidClaims(f"Token has no usable user id claim {self.user_id!r}.")
        username = claim(claims, self.username)
        if username is _MISSING or username is None or username == "":
            username = user_id
        if not isinstance(username, str):
            raise InvalidClaims(f"Token claim {self.username!r} must be a string.")
        app_id = claim(claims, self.app_id)
        if app_id is _MISSING or app_id is None or app_id == "":
            app_id = default_app_id
        if not isinstance(app_id, str):
            raise InvalidClaims(f"Token claim {self.app_id!r} must be a string.")
        return Identity(
            user_id=user_id,
            username=username,
            app_id=app_id,
            roles=self._roles(claims),
            is_superadmin=claim(claims, self.superadmin) is True,
            plan=self._plan(claims),
        )

    def _plan(self, claims: Mapping[str, Any]) -> str | None:
        plan = claim(claims, self.plan)
        if plan is _MISSING or plan is None or plan == "":
            return None
        if not isinstance(plan, str):
            raise InvalidClaims(f"Token claim {self.plan!r} must be a string.")
        return plan

    def _roles(self, claims: Mapping[str, Any]) -> tuple[str, ...]:
        roles = claim(claims, self.roles)
        if roles is _MISSING or roles is None:
            return ()
        # Some providers send a single role, or a space-separated list, as one string.
        if isinstance(roles, str):
            return tuple(roles.split())
        if isinstance(roles, list | tuple) and all(isinstance(r, str) for r in roles):
            return tuple(roles)
        raise InvalidClaims(f"Token claim {self.roles!r} must be a list of strings.")
