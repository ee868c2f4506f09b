"""``GET /health``, ``GET /health/ready`` and ``GET /metrics``: for load balancers,
operators and Prometheus.

``/health`` is liveness: 200 once plugins are loaded, whatever fails around the process
(restarting it would not help). ``/health/ready`` is readiness: 503 naming each component
that keeps the process from serving fully, 200 again once they recover by themselves.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Awaitable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tessera.http.caller import caller
from tessera.http.errors import Forbidden, HTTPError
from tessera.services.database import SYSTEM_DATABASE
from tessera.store.api.client import Client as EmbeddedClient

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


async def store_state(runtime: Any) -> str:
    """``ok``, ``disk full``, ``read-only`` (the embedded store) or ``unreachable``."""
    # Not getattr: a MongoDB client answers any attribute with a database of that name.
    if isinstance(runtime.store, EmbeddedClient):
        fault = await runtime.store.engine.probe()
        if fault is not None:
            return fault
    return await reachable(runtime.store[SYSTEM_DATABASE].command("ping"))


async def redis_state(runtime: Any) -> str:
    """``ok``, or ``unreachable since`` the outage began (UTC)."""
    cluster = runtime.cluster
    if not cluster.outage.down and not await cluster.ping():
        cluster.outage.lost(ConnectionError("no answer to a health probe"))
    if cluster.outage.since is None:
        return "ok"
    since = datetime.datetime.fromtimestamp(cluster.outage.since, datetime.UTC)
    return f"unreachable since {since.isoformat(timespec='seconds')}"


async def components(runtime: Any) -> dict[str, str]:
    """The state of each dependency of a started process."""
    states = {"store": await store_state(runtime)}
    if runtime.cluster is not None:
        states["redis"] = await redis_state(runtime)
    return states


async def health(request: Request) -> JSONResponse:
    """Liveness: 200 once started (503 while plugins load), with each dependency's state;
    failure details only for a superadmin."""
    runtime = request.app.state.runtime
    started = runtime.started
    failed = runtime.plugins.failures
    # Anyone may probe health; which plugins failed, and why, is for superadmins. The count
    # is enough for a load balancer or an alert.
    shown: dict[str, str] | int = failed if await is_superadmin(request) else len(failed)
    body: dict[str, Any] = {
        "status": "ok" if started else "starting",
        "plugins": {"loaded": len(runtime.plugins) - len(failed), "failed": shown},
    }
    if runtime.sandbox.pools:
        body["sandbox"] = runtime.sandbox.status(details=shown is failed)
    if started:
        states = await components(runtime)
        body.update(states)
        if states["store"] != "ok":
            body["status"] = "unavailable"
        elif states.get("redis", "ok") != "ok":
            body["status"] = "degraded"
    return JSONResponse(body, status_code=200 if started else 503)


async def ready(request: Request) -> JSONResponse:
    """Readiness: 200 when every dependency is ok, else 503 naming the ones that are not
    (``"redis: unreachable since ..."``, ``"store: disk full"``)."""
    runtime = request.app.state.runtime
    if not runtime.started:
        return JSONResponse({"status": "starting", "problems": ["plugins: loading"]}, 503)
    states = await components(runtime)
    problems = [f"{name}: {state}" for name, state in states.items() if state != "ok"]
    if problems:
        return JSONResponse({"status": "not ready", "problems": problems, **states}, 503)
    return JSONResponse({"status": "ready", **states})


async def metrics(request: Request) -> Response:
    """Prometheus text format; needs a superadmin token (scrape with a bearer token)."""
    if not (await caller(request)).is_superadmin:
        raise Forbidden("Metrics are for superadmins.", error_code="superadmin_required")
    return Response(
        request.app.state.runtime.metrics.exposition(),
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )
