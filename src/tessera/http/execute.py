"""``POST /api/execute/{plugin}``: the one route every front-end interaction goes through."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tessera.context import current_request_id
from tessera.http.body import read_json_object
from tessera.http.caller import caller
from tessera.http.encoding import EncodingError, encode_json
from tessera.http.errors import GatewayTimeout, InternalError, NotFound
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


def outcome_response(outcome: Outcome, error_mode: str) -> Response:
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
        return json_response(outcome.body, status)
    except EncodingError as exc:
        logger.error("plugin result cannot be encoded as JSON: %s", exc)
        raise InternalError(
            "The plugin returned a value that cannot be sent as JSON.",
            error_code="plugin_result_not_json",
        ) from None


async def execute_plugin(request: Request) -> Response:
    runtime = request.app.state.runtime
    identity = await caller(request)
    name = request.path_params["plugin"]
    try:
        plugin = runtime.plugins.callable(name)
    except PluginNotFound as exc:
        raise NotFound(str(exc), error_code="plugin_not_found") from None
    payload = await read_json_object(request, runtime.settings.max_body_bytes)
    outcome = await runtime.executor.call(plugin, payload, identity, current_request_id.get())
    return outcome_response(outcome, runtime.settings.error_mode)
