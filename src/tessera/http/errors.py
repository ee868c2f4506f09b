"""The one JSON error shape of Tessera's own routes.

Every error the runtime itself produces (not a plugin's ``{"error": ...}`` dict, which is
passed through unchanged) answers ``{"error": message, "error_code": CODE}`` plus the
request id, with the HTTP status carried by the exception class. In the ``reference`` error
mode (``--error-mode reference``) every such body also carries the message as ``detail``.

    HTTPError
    ├── BadRequest          400  the body or a parameter is malformed
    ├── Unauthorized        401  no token, or a token that does not verify
    ├── Forbidden           403  the caller lacks a role or plan
    ├── NotFound            404  unknown route, plugin, notification...
    ├── MethodNotAllowed    405  a route called with the wrong method
    ├── Conflict            409  the request clashes with existing data (a taken username)
    ├── PayloadTooLarge     413  body over the configured limit
    ├── Unprocessable       422  well-formed input that fails validation
    ├── TooManyRequests     429  rate limited; carries Retry-After
    ├── InternalError       500  a crash; never carries the exception text
    ├── ServiceUnavailable  503  a dependency is down
    └── GatewayTimeout      504  a plugin call ran past its timeout
"""

from __future__ import annotations

from typing import Any, ClassVar

from tessera.context import current_request_id
from tessera.encoding import encode_json


class HTTPError(Exception):
    """An error with an HTTP status, a stable machine-readable code and a message."""

    status_code: ClassVar[int] = 500
    error_code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        error_code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if error_code is not None:
            self.error_code = error_code  # type: ignore[misc]
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        """The JSON body: message, code and any extra fields (e.g. the failing field)."""
        return {"error": self.message, "error_code": self.error_code, **self.extra}

    def encoded(self, *, detail: bool = False) -> bytes:
        """The JSON body as sent, with the id of the request it answers; with ``detail``
        (the ``reference`` error mode) the message is also under ``detail``, the one key
        front ends built for the reference read."""
        body = {**self.body(), "request_id": current_request_id.get()}
        if detail:
            body["detail"] = self.message
        return encode_json(body)


class BadRequest(HTTPError):
    status_code = 400
    error_code = "bad_request"


class Unauthorized(HTTPError):
    status_code = 401
    error_code = "unauthorized"


class Forbidden(HTTPError):
    status_code = 403
    error_code = "forbidden"


class NotFound(HTTPError):
    status_code = 404
    error_code = "not_found"


class MethodNotAllowed(HTTPError):
    status_code = 405
    error_code = "method_not_allowed"


class Conflict(HTTPError):
    status_code = 409
    error_code = "conflict"


class PayloadTooLarge(HTTPError):
    status_code = 413
    error_code = "payload_too_large"


class Unprocessable(HTTPError):
    status_code = 422
    error_code = "validation_error"


class TooManyRequests(HTTPError):
    status_code = 429
    error_code = "rate_limited"


class InternalError(HTTPError):
    status_code = 500
    error_code = "internal_error"


class ServiceUnavailable(HTTPError):
    status_code = 503
    error_code = "service_unavailable"


class GatewayTimeout(HTTPError):
    status_code = 504
    error_code = "timeout"
