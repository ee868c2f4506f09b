"""``POST /api/execute/{plugin}``: the one route every front-end interaction goes through.

Being that route, it is served as bare ASGI beside Starlette rather than inside it (see
``tessera.http.app``): the request needs only two headers and the body. Skipping those
layers is part of what halved the cost of a no-op call (docs/performance.md).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from tessera.auth.authenticator import bearer_token
from tessera.auth.identity import Identity
from tessera.context import current_request_id
from tessera.encoding import Encoded, EncodingError, ResultTooLarge, encode_json
from tessera.governance import GovernanceError, RateLimited, RoleRequired
from tessera.governance.governor import Limits
from tessera.http.body import parse_json_object, receive_body
from tessera.http.caller import identify
from tessera.http.entitlements import DRY_RUN, admit, dry_run_answer
from tessera.http.errors import (
    Forbidden,
    GatewayTimeout,
    HTTPError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unprocessable,
)
from tessera.http.middleware import (
    REQUEST_ID_HEADER,
    SECURITY_HEADERS,
    crash_body,
    request_id_of,
)
from tessera.plugins.actions import InvalidInput
from tessera.plugins.errors import PluginNotFound, PluginUnavailable
from tessera.plugins.executor import Outcome
from tessera.plugins.registry import Plugin

if TYPE_CHECKING:
    from tessera.runtime import Runtime

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


def refusal(exc: GovernanceError) -> HTTPError:
    """The HTTP error for a call that governance refused before the plugin ran."""
    if isinstance(exc, RoleRequired):
        return Forbidden(str(exc), error_code="role_required")
    retry_after = exc.retry_after if isinstance(exc, RateLimited) else 1.0
    code = "rate_limited" if isinstance(exc, RateLimited) else "too_many_concurrent_calls"
    return TooManyRequests(
        str(exc), error_code=code, headers={"Retry-After": str(max(1, math.ceil(retry_after)))}
    )


def encode_outcome(outcome: Outcome, error_mode: str, limits: Limits) -> tuple[int, bytes]:
    """The status and JSON body answering a plugin call's outcome (SPEC section 2); an
    HTTPError for a crash, a timeout or a result that cannot be sent."""
    body = outcome.body
    if outcome.status == "timeout":
        raise GatewayTimeout("The plugin did not answer in time.")
    if outcome.status == "unavailable":
        raise ServiceUnavailable(
            "A service the cluster shares (Redis) is unreachable; retry shortly.",
            headers={"Retry-After": "5"},
        )
    if outcome.status == "unwritable":
        raise ServiceUnavailable(
            "The store cannot write now (its disk is full or read-only); the failed write "
            "was not stored. Retry later.",
            error_code="store_unwritable",
            headers={"Retry-After": "30"},
        )
    if outcome.status == "crash":
        if error_mode == "reference":
            return 500, encode_json({"detail": "Plugin execution failed."})
        if "retry_after" in body:  # a sandboxed plugin's workers backing off
            retry = str(max(1, math.ceil(body["retry_after"])))
            raise ServiceUnavailable(
                body["detail"], error_code=body["error_code"], headers={"Retry-After": retry}
            )
        if body:  # a cause the caller is told (a sandbox worker's memory limit)
            raise InternalError(body["detail"], error_code=body["error_code"])
        raise InternalError(
            "The plugin failed; the server log has the details under this request id.",
            error_code="plugin_failed",
        )
    if outcome.status == "error" and error_mode == "reference":
        return 500, encode_json({"detail": str(body["error"])})
    status = error_status(body) if outcome.status == "error" else 200
    try:
        # A sandboxed result comes encoded (and checked): its bytes go out as they are.
        encoded = body.json if type(body) is Encoded else encode_json(body)
    except EncodingError as exc:
        logger.error("plugin result cannot be encoded as JSON: %s", exc)
        raise InternalError(
            "The plugin returned a value that cannot be sent as JSON.",
            error_code="plugin_result_not_json",
        ) from None
    except ResultTooLarge as exc:  # over what a sandbox worker's channel carries
        raise _too_large(exc.size, min(exc.limit, limits.max_response_bytes)) from None
    if len(encoded) > limits.max_response_bytes:
        raise _too_large(len(encoded), limits.max_response_bytes)
    return status, encoded


def _too_large(size: int, limit: int) -> InternalError:
    logger.error("plugin result of %d bytes is over the limit of %d", size, limit)
    return InternalError(
        f"The plugin's result is larger than the limit of {limit} bytes.",
        error_code="response_too_large",
    )


def callable_plugin(runtime: Runtime, name: str, identity: Identity) -> Plugin:
    """The loaded, enabled plugin ``name``; 503 when it failed to load (the load error for
    superadmins only: it names files and lines), 404 otherwise."""
    try:
        return runtime.plugins.callable(name)
    except PluginUnavailable as exc:
        extra = {"load_error": exc.load_error} if identity.is_superadmin else None
        raise ServiceUnavailable(str(exc), error_code="plugin_unavailable", extra=extra) from None
    except PluginNotFound as exc:
        raise NotFound(str(exc), error_code="plugin_not_found") from None


async def call_plugin(
    runtime: Runtime,
    plugin: Plugin,
    payload: dict[str, Any],
    identity: Identity,
    limits: Limits,
    user_jwt: str | None = None,
) -> tuple[int, bytes]:
    """Run one call exactly as ``POST /api/execute`` does once the body is read: plans and
    entitlements, input validation, governance, the call, the status mapping and encoding."""
    gate = runtime.entitlements
    dry_run = payload.get(DRY_RUN) is True
    if gate is None:
        if dry_run:
            return 200, encode_json(dry_run_answer(None))
        return await _call(runtime, plugin, payload, identity, limits, user_jwt)
    grant = await admit(gate, plugin, payload, identity, limits, dry_run)
    if dry_run:
        return 200, encode_json(dry_run_answer(grant))
    succeeded = False
    try:
        status, body = await _call(
            runtime, plugin, payload, identity, limits, user_jwt, grant.entitlements
        )
        succeeded = status == 200
        return status, body
    finally:
        await gate.settle(grant, succeeded)


async def _call(
    runtime: Runtime,
    plugin: Plugin,
    payload: dict[str, Any],
    identity: Identity,
    limits: Limits,
    user_jwt: str | None,
    entitlements: dict[str, Any] | None = None,
) -> tuple[int, bytes]:
    request_id = current_request_id.get()
    try:
        outcome = await runtime.executor.call(
            plugin, payload, identity, limits, request_id, user_jwt, entitlements
        )
    except InvalidInput as exc:
        raise Unprocessable(str(exc), extra={"field": exc.field}) from None
    except GovernanceError as exc:
        error = refusal(exc)
        runtime.metrics.refusals.labels(plugin.name, error.error_code).inc()
        raise error from None
    return encode_outcome(outcome, runtime.settings.error_mode, limits)


EXECUTE_PREFIX = "/api/execute/"
JSON_CONTENT_TYPE = (b"content-type", b"application/json")


def is_execute(scope: Scope) -> bool:
    """Whether ``scope`` is an HTTP request to ``/api/execute/{plugin}``."""
    if scope["type"] != "http":
        return False
    path: str = scope["path"]
    return (
        path.startswith(EXECUTE_PREFIX)
        and len(path) > len(EXECUTE_PREFIX)
        and "/" not in path[len(EXECUTE_PREFIX) :]
    )


class ExecuteEndpoint:
    """The ASGI app answering the requests :func:`is_execute` picks out.

    It is its own request context (the id, the security headers, the generic 500; see
    ``RequestContextMiddleware``): wrapping ``send`` for that cost more than the rest of
    the response.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.detail = runtime.settings.error_mode == "reference"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = request_id_of(scope)
        token = current_request_id.set(request_id.decode())
        headers = [JSON_CONTENT_TYPE, *SECURITY_HEADERS, (REQUEST_ID_HEADER, request_id)]
        try:
            status, body = await self.execute(scope["path"][len(EXECUTE_PREFIX) :], scope, receive)
        except HTTPError as exc:
            status, body = exc.status_code, exc.encoded(detail=self.detail)
            headers.extend((k.lower().encode(), v.encode()) for k, v in exc.headers.items())
        except ClientDisconnect:
            return
        except Exception:
            logger.exception("unhandled error in %s %s", scope["method"], scope["path"])
            status, body = 500, crash_body(request_id, detail=self.detail)
        finally:
            current_request_id.reset(token)
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def execute(self, name: str, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        """Authenticate, find the plugin, read the body, call: each step's error in turn."""
        if scope["method"] != "POST":
            raise MethodNotAllowed(
                f"Method {scope['method']} is not allowed here; use POST.",
                headers={"Allow": "POST"},
            )
        authorization = content_length = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value.decode("latin-1")
            elif key == b"content-length":
                content_length = value.decode("latin-1")
        runtime = self.runtime
        identity = await identify(runtime.auth, authorization)
        plugin = callable_plugin(runtime, name, identity)
        limits = runtime.executor.limits(plugin)
        raw = await receive_body(receive, content_length, limits.max_request_bytes)
        # Only the Authorization header reaches here, and it has verified: the token as sent.
        user_jwt = bearer_token(authorization) if plugin.manifest.needs_user_jwt else None
        payload = parse_json_object(raw)
        return await call_plugin(runtime, plugin, payload, identity, limits, user_jwt)
