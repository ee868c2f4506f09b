"""``GET /health``: liveness and readiness, for load balancers and operators."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse


async def health(request: Request) -> JSONResponse:
    runtime = request.app.state.runtime
    ready = runtime.started
    failed = runtime.plugins.failures
    body = {
        "status": "ok" if ready else "starting",
        "plugins": {"loaded": len(runtime.plugins) - len(failed), "failed": failed},
    }
    return JSONResponse(body, status_code=200 if ready else 503)
