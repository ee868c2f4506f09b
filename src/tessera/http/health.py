"""``GET /health`` and ``GET /metrics``: for load balancers, operators and Prometheus."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tessera.http.caller import caller
from tessera.http.errors import Forbidden, HTTPError
from tessera.services.database import SYSTEM_DATABASE

#: Seconds a dependency may take to answer a health probe.
PROBE_TIMEOUT = 2.0


async def is_superadmin(request: Request) -> bool:
    """Whether the request carries a valid superadmin token (no token is not an error)."""
    if "authorization" not in request.headers:
        return False
    try:
        return (await caller(request)).is_superadmin
    except HTTPError:
        return False


async def reachable(check: Awaitable[Any]) -> str:
    """``"ok"`` when ``check`` answers within the probe's patience, else ``"unreachable"``."""
    try:
        await asyncio.wait_for(check, PROBE_TIMEOUT)
    except Exception:  # any failure of a dependency probe means: not usable now
        return "unreachable"
    return "ok"


async def health(request: Request) -> JSONResponse:
    """Liveness and readiness; failure details only for a superadmin.

    503 while starting or when the store is unreachable. Without Redis a cluster process
    stays up (200) but reports ``"degraded"``: calls that need Redis answer 503 meanwhile.
    """
    runtime = request.app.state.runtime
    ready = runtime.started
    failed = runtime.plugins.failures
    # Anyone may probe health; which plugins failed, and why, is for superadmins. The count
    # is enough for a load balancer or an alert.
    shown: dict[str, str] | int = failed if await is_superadmin(request) else len(failed)
    body: dict[str, Any] = {
        "status": "ok" if ready else "starting",
        "plugins": {"loaded": len(runtime.plugins) - len(failed), "failed": shown},
    }
    if ready:
        body["store"] = await reachable(runtime.store[SYSTEM_DATABASE].command("ping"))
        if runtime.cluster is not None:
            body["redis"] = "ok" if await runtime.cluster.ping() else "unreachable"
        if body["store"] != "ok":
            body["status"], ready = "unavailable", False
        elif body.get("redis", "ok") != "ok":
            body["status"] = "degraded"
    return JSONResponse(body, status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    """Prometheus text format; needs a superadmin token (scrape with a bearer token)."""
    if not (await caller(request)).is_superadmin:
        raise Forbidden("Metrics are for superadmins.", error_code="superadmin_required")
    return Response(
        request.app.state.runtime.metrics.exposition(),
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )
