"""The limits of each plugin, and the gate every call passes before the plugin runs.

A limit comes from the server's settings and the plugin's manifest; where both set one,
the stricter wins, so an operator's cap always holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from tessera.auth.identity import Identity
from tessera.governance.errors import RateLimited, RoleRequired, TooManyConcurrentCalls
from tessera.governance.rates import Rate, TokenBuckets, parse_rate
from tessera.plugins.manifest import Manifest
from tessera.settings import Settings


@dataclass(frozen=True, slots=True)
class Limits:
    """What one plugin may do per call."""

    timeout: float
    roles: tuple[str, ...] = ()
    rate: Rate | None = None
    max_concurrency: int | None = None
    max_request_bytes: int = 1_048_576
    max_response_bytes: int = 10_485_760
    #: Whether the governor has anything to check or count (a role, a rate or a cap).
    governed: bool = field(init=False)

    def __post_init__(self) -> None:
        governed = bool(self.roles) or self.rate is not None or self.max_concurrency is not None
        object.__setattr__(self, "governed", governed)


def _stricter(server: float | None, plugin: float | None) -> float | None:
    if server and plugin:
        return min(server, plugin)
    return server or plugin


def _stricter_rate(server: Rate | None, plugin: Rate | None) -> Rate | None:
    if server and plugin:
        return min(server, plugin, key=lambda r: r.per_second)
    return server or plugin


def limits_for(manifest: Manifest, settings: Settings) -> Limits:
    """Combine the server's defaults with a manifest's own limits."""
    server_rate = parse_rate(settings.rate_limit) if settings.rate_limit else None
    plugin_rate = parse_rate(manifest.rate_limit) if manifest.rate_limit else None
    concurrency = _stricter(settings.max_concurrency or None, manifest.max_concurrency)
    return Limits(
        timeout=float(_stricter(settings.plugin_timeout, manifest.timeout) or 0),
        roles=manifest.roles,
        rate=_stricter_rate(server_rate, plugin_rate),
        max_concurrency=int(concurrency) if concurrency else None,
        max_request_bytes=int(_stricter(settings.max_body_bytes, manifest.max_request_bytes) or 0),
        max_response_bytes=int(
            _stricter(settings.max_response_bytes, manifest.max_response_bytes) or 0
        ),
    )


#: Whose token buckets: plugin calls' (``rate``) or the auth routes' (``auth``). Each
#: scope has its keys to itself, and in one process a bound of its own, so a spray of
#: logins cannot push users' plugin buckets out of memory, nor the reverse.
Scope = Literal["rate", "auth"]
#: A bucket within its scope; the parts are joined unambiguously (as JSON).
Key = tuple[str, ...]


class Governor:
    """Admits or refuses calls by role, per-user rate and per-plugin concurrency, and
    counts the token buckets of the auth routes' throttle (``take``).

    Only calls whose limits are ``governed`` come here: for the rest (the default) there
    is nothing to check, and skipping ``admit`` and ``release`` saves two coroutines a
    call. The in-process counts here serve one process; the scale-out backends count them
    across processes behind the same methods.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._limits: dict[str, tuple[int, Limits]] = {}  # per plugin, its latest generation
        self._buckets: dict[Scope, TokenBuckets] = {"rate": TokenBuckets(), "auth": TokenBuckets()}
        self._running: dict[str, int] = {}

    def limits(self, name: str, generation: int, manifest: Manifest) -> Limits:
        """The limits of a plugin version, computed once per (re)load."""
        cached = self._limits.get(name)
        if cached is not None and cached[0] == generation:
            return cached[1]
        limits = limits_for(manifest, self.settings)
        self._limits[name] = (generation, limits)
        return limits

    async def admit(self, plugin: str, identity: Identity, limits: Limits) -> None:
        """Raise a GovernanceError when the call may not run; else count it as running
        when ``limits`` cap its plugin's calls.

        Every successful ``admit`` must be paired with a ``release`` of the same limits.
        """
        if (
            limits.roles
            and not identity.is_superadmin
            and not set(limits.roles) & set(identity.roles)
        ):
            raise RoleRequired(
                f"Plugin {plugin!r} requires one of the roles: {', '.join(limits.roles)}."
            )
        if limits.rate is not None:
            key = (identity.app_id, identity.user_id, plugin)
            wait = await self.take("rate", [(key, limits.rate)])
            if wait > 0:
                raise RateLimited(
                    f"Too many calls to {plugin!r}: the limit is {limits.rate.requests} per "
                    f"{limits.rate.period:g} s.",
                    retry_after=wait,
                )
        if limits.max_concurrency is not None and not await self._occupy(plugin, limits):
            raise TooManyConcurrentCalls(
                f"Plugin {plugin!r} is already running its maximum of "
                f"{limits.max_concurrency} calls; retry shortly."
            )

    async def take(self, scope: Scope, limits: Sequence[tuple[Key, Rate]]) -> float:
        """One token from each ``(key, rate)`` bucket of ``scope``, or from none when any
        is empty (see :meth:`TokenBuckets.take_all`): 0 means the call may go ahead and
        counts, else the seconds until every bucket has a token."""
        return self._buckets[scope].take_all(limits)

    async def _occupy(self, plugin: str, limits: Limits) -> bool:
        """Count a call of ``plugin`` as running, unless its concurrency cap is reached."""
        running = self._running.get(plugin, 0)
        if limits.max_concurrency is not None and running >= limits.max_concurrency:
            return False
        self._running[plugin] = running + 1
        return True

    async def release(self, plugin: str, limits: Limits) -> None:
        """Count a call that ``admit`` admitted under ``limits`` as finished."""
        if limits.max_concurrency is not None:
            self._running[plugin] -= 1
