"""``POST /api/execute/{plugin}``: the one route every front-end interaction goes through."""

from __future__ import annotations

import logging
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tessera.context import current_request_id
from tessera.governance import GovernanceError, RateLimited, RoleRequired
from tessera.governance.governor import Limits
from tessera.http.body import read_json_object
from tessera.http.caller import caller
from tessera.http.encoding import EncodingError, encode_json
from tessera.http.errors import (
    Forbidden,
    GatewayTimeout,
    HTTPError,
    InternalError,
    NotFound,
    TooManyRequests,
    Unprocessable,
)
from tessera.plugins.actions import InvalidInput
from tessera.plugins.errors import PluginNotFound
from tessera.plugins.executor import Outcome, Status

logger = logging.getLogger("tessera.execute")

# A plugin's error dict may name its kind in "error_code"; these kinds get their own status.
ERROR_CODE_STATUS = {
    "bad_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "validation_error": 422,
    "rate_limited": 429,
}


def error_status(body: dict[str, Any]) -> int:
    """The 4xx status of a plugin's error dict: ``http_status``, ``error_code``, else 400."""
    explicit = body.get("http_status")
    if isinstance(explicit, int) and not isinstance(explicit, bool) and 400 <= explicit < 500:
        return explicit
    code = body.get("error_code")
    if isinstance(code, str):
        return ERROR_CODE_STATUS.get(code.lower(), 400)
    return 400


def json_response(body: Any, status: int = 200) -> Response:
    return Response(encode_json(body), status, media_type="application/json")


def refusal(exc: GovernanceError) -> HTTPError:
    """The HTTP error for a call that governance refused before the plugin ran."""
    if isinstance(exc, RoleRequired):
        return Forbidden(str(exc), error_code="role_required")
    retry_after = exc.retry_after if isinstance(exc, RateLimited) else 1.0
    code = "rate_limited" if isinstance(exc, RateLimited) else "too_many_concurrent_calls"
    return TooManyRequests(
        str(exc), error_code=code, headers={"Retry-After": str(max(1, math.ceil(retry_after)))}
    )


def outcome_response(outcome: Outcome, error_mode: str, limits: Limits) -> Response:
    """The HTTP answer for a plugin call's outcome (SPEC section 2)."""
    if outcome.status is Status.TIMEOUT:
        raise GatewayTimeout("The plugin did not answer in time.")
    if outcome.status is Status.CRASH:
        if error_mode == "reference":
            return json_response({"detail": "Plugin execution failed."}, 500)
        raise InternalError(
            "The plugin failed; the server log has the details under this request id.",
            error_code="plugin_failed",
        )
    if outcome.status is Status.ERROR:
        if error_mode == "reference":
            return json_response({"detail": str(outcome.body["error"])}, 500)
        status = error_status(outcome.body)
    else:
        status = 200
    try:
        encoded = encode_json(outcome.body)
    except EncodingError as exc:
        logger.error("plugin result cannot be encoded as JSON: %s", exc)
        raise InternalError(
            "The plugin returned a value that cannot be sent as JSON.",
            error_code="plugin_result_not_json",
        ) from None
    if len(encoded) > limits.max_response_bytes:
        logger.error(
            "plugin result of %d bytes is over the limit of %d",
            len(encoded),
            limits.max_response_bytes,
        )
        raise InternalError(
            f"The plugin's result is larger than the limit of {limits.max_response_bytes} bytes.",
            error_code="response_too_large",
        )
    return Response(encoded, status, media_type="application/json")


async def execute_plugin(request: Request) -> Response:
    runtime = request.app.state.runtime
    identity = await caller(request)
    name = request.path_params["plugin"]
    try:
        plugin = runtime.plugins.callable(name)
    except PluginNotFound as exc:
        raise NotFound(str(exc), error_code="plugin_not_found") from None
    limits = runtime.executor.limits(plugin)
    payload = await read_json_object(request, limits.max_request_bytes)
    try:
        outcome = await runtime.executor.call(plugin, payload, identity, current_request_id.get())
    except InvalidInput as exc:
        raise Unprocessable(str(exc), extra={"field": exc.field}) from None
    except GovernanceError as exc:
        error = refusal(exc)
        runtime.metrics.refusals.labels(plugin.name, error.error_code).inc()
        raise error from None
    return outcome_response(outcome, runtime.settings.error_mode, limits)
