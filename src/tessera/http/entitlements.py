"""Plans and entitlements on ``POST /api/execute``: the check's refusals as HTTP errors,
and the answer to a dry run (``"_entitlement_dry_run": true``)."""

from __future__ import annotations

from typing import Any

from tessera.auth.identity import Identity
from tessera.entitlements.errors import EntitlementsUnavailable, LimitReached, Refused
from tessera.entitlements.gate import DRY_RUN, Gate, Grant, retry_after
from tessera.governance.governor import Limits
from tessera.http.errors import Forbidden, HTTPError, ServiceUnavailable, TooManyRequests
from tessera.plugins.registry import Plugin

__all__ = ["DRY_RUN", "admit", "dry_run_answer", "refusal", "unavailable"]


async def admit(
    gate: Gate,
    plugin: Plugin,
    payload: dict[str, Any],
    identity: Identity,
    limits: Limits,
    dry_run: bool,
) -> Grant:
    """The gate's grant for this call; its refusal or failure as an HTTPError."""
    action = payload.get("action")
    try:
        return await gate.admit(
            plugin.name,
            plugin.entitlements,
            action if isinstance(action, str) else "",
            identity,
            timeout=limits.timeout,
            dry_run=dry_run,
        )
    except Refused as exc:
        raise refusal(exc, gate, dry_run) from None
    except EntitlementsUnavailable as exc:
        raise unavailable(exc, "Plans and usage cannot be checked") from None


def unavailable(exc: EntitlementsUnavailable, what: str) -> ServiceUnavailable:
    """503 when the store or Redis cannot answer for plans: the caller retries, and no
    call runs unchecked."""
    return ServiceUnavailable(
        f"{what} right now ({exc}); retry shortly.",
        error_code="entitlements_unavailable",
        headers={"Retry-After": "5"},
    )


def refusal(exc: Refused, gate: Gate, dry_run: bool = False) -> HTTPError:
    """403 plan_required or feature_required, or 429 limit_reached with Retry-After."""
    extra = {**exc.details, "dry_run": True} if dry_run else dict(exc.details)
    if isinstance(exc, LimitReached):
        wait = retry_after(exc.resets_at, gate.clock())
        headers = {"Retry-After": wait} if wait is not None else {}
        return TooManyRequests(str(exc), error_code=exc.code, headers=headers, extra=extra)
    return Forbidden(str(exc), error_code=exc.code, extra=extra)


def dry_run_answer(grant: Grant | None) -> dict[str, Any]:
    """What a call would do: allowed (refusals are answered as the call would be), with
    what it would consume and the caller's entitlements; nothing ran or was charged."""
    if grant is None:
        return {"dry_run": True, "allowed": True, "would_consume": {}, "_entitlements": {}}
    return {
        "dry_run": True,
        "allowed": True,
        "plan": grant.plan,
        "would_consume": dict(grant.would_consume),
        "_entitlements": grant.entitlements,
    }
