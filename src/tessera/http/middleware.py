"""Pure ASGI middleware: cheap enough for the execute hot path."""

from __future__ import annotations

import itertools
import logging
import re
import secrets

import orjson
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tessera.context import current_request_id

logger = logging.getLogger("tessera.http")

REQUEST_ID_HEADER = b"x-request-id"
# Sent with every response unless a route set its own (an HTML page may relax the CSP).
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cache-control", b"no-store"),
)
_SAFE_ID = re.compile(rb"^[A-Za-z0-9._-]{1,128}$")
# Generated ids: a random prefix per process and a counter. Unique without asking the OS
# for random bytes on every request, which cost more than the rest of this middleware.
_ID_PREFIX = secrets.token_hex(4)
_id_counter = itertools.count()


def new_request_id() -> bytes:
    """A request id unique within this process and, by its random prefix, across them."""
    return f"{_ID_PREFIX}{next(_id_counter):08x}".encode()


def request_id_of(scope: Scope) -> bytes:
    """The client's ``X-Request-ID`` when it is sane, else a new id."""
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and _SAFE_ID.match(value):
            return value
    return new_request_id()


CRASH_MESSAGE = "Internal server error; the log has details under this request id."


def crash_body(request_id: bytes, *, detail: bool = False) -> bytes:
    """The generic 500 body: the request id, never the exception's text; with ``detail``
    (the ``reference`` error mode) the message is also under ``detail``."""
    body = {
        "error": CRASH_MESSAGE,
        "error_code": "internal_error",
        "request_id": request_id.decode(),
    }
    if detail:
        body["detail"] = CRASH_MESSAGE
    return orjson.dumps(body)


class RequestContextMiddleware:
    """Gives every request an id (see :func:`request_id_of`), puts it in the logging
    context, echoes it and the security headers in the response, and turns an unhandled
    exception into a generic 500 that carries the id but never the exception text.

    The execute and WebSocket endpoints do the same themselves, for speed
    (``tessera.http.execute``, ``tessera.http.websocket``).
    """

    def __init__(self, app: ASGIApp, *, detail: bool = False) -> None:
        self.app = app
        self.detail = detail

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        token = current_request_id.set(request_id.decode())
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                headers.append((REQUEST_ID_HEADER, request_id))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            return  # the client left before its body arrived: no one to answer
        except Exception:
            logger.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if scope["type"] != "http" or started:
                raise
            body = crash_body(request_id, detail=self.detail)
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send_with_id({"type": "http.response.start", "status": 500, "headers": headers})
            await send_with_id({"type": "http.response.body", "body": body})
        finally:
            current_request_id.reset(token)
