"""``GET /health`` and ``GET /metrics``: for load balancers, operators and Prometheus."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tessera.http.caller import caller
from tessera.http.errors import Forbidden, HTTPError


async def is_superadmin(request: Request) -> bool:
    """Whether the request carries a valid superadmin token (no token is not an error)."""
    if "authorization" not in request.headers:
        return False
    try:
        return (await caller(request)).is_superadmin
    except HTTPError:
        return False


async def health(request: Request) -> JSONResponse:
    """Liveness and readiness; failure details only for a superadmin."""
    runtime = request.app.state.runtime
    ready = runtime.started
    failed = runtime.plugins.failures
    shown = failed if await is_superadmin(request) else sorted(failed)
    body = {
        "status": "ok" if ready else "starting",
        "plugins": {"loaded": len(runtime.plugins) - len(failed), "failed": shown},
    }
    return JSONResponse(body, status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    """Prometheus text format; needs a superadmin token (scrape with a bearer token)."""
    if not (await caller(request)).is_superadmin:
        raise Forbidden("Metrics are for superadmins.", error_code="superadmin_required")
    return Response(
        request.app.state.runtime.metrics.exposition(),
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )
