"""The auth routes: register and log in (local mode), and ``/api/auth/me`` (both modes).

``POST /api/auth/token`` is the reference's login path: the same handler, limits and
password check as ``/api/auth/login``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from tessera.auth import (
    AccountError,
    AccountStore,
    Authenticator,
    AuthError,
    HashingBusy,
    UsernameTaken,
)
from tessera.governance.governor import Key
from tessera.governance.rates import Rate
from tessera.http.body import read_form, read_json_object
from tessera.http.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
)

_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


# Per client address and username: slows password guessing without locking anyone out.
LOGIN_RATE = Rate(10, 60.0)
# Per client address, whatever the username: a spray of logins across usernames, each
# costing a password hash, stops here. Bursts of 60, then one a second: an office behind
# one address signs in without waiting, since tokens last a day.
LOGIN_ADDRESS_RATE = Rate(60, 60.0)
# Per client address: accounts are made once, so bursts of 20, then one every 3 minutes.
REGISTER_RATE = Rate(20, 3600.0)
# A key part longer than this (no username or address is) is kept as its digest.
_LONGEST_PART = 64


def auth_routes() -> list[BaseRoute]:
    """The routes under ``/api/auth``."""
    return [
        Route("/api/auth/register", register, methods=["POST"]),
        Route("/api/auth/login", login, methods=["POST"]),
        Route("/api/auth/token", login, methods=["POST"]),
        Route("/api/auth/me", me, methods=["GET"]),
    ]


async def register(request: Request) -> JSONResponse:
    """Create a local account and answer 201 with a token for it."""
    auth = _authenticator(request)
    accounts = _local_accounts(auth, "Registration")
    if not auth.allow_registration:
        raise Forbidden("Registration is disabled on this server; ask an operator for an account.")
    await _throttle(request, [(("register", _client(request)), REGISTER_RATE)], "registrations")
    body = await read_json_object(request, request.app.state.runtime.settings.max_body_bytes)
    username = _text(body, "username")
    password = _text(body, "password")
    email = body.get("email")
    try:
        account = await accounts.register(username, password, email=email)
    except UsernameTaken as exc:
        raise Conflict(
            exc.message, error_code="username_taken", extra={"field": exc.field}
        ) from None
    except AccountError as exc:
        raise Unprocessable(exc.message, extra={"field": exc.field}) from None
    except HashingBusy as exc:
        raise _busy(exc) from None
    return JSONResponse(
        {
            "user_id": account["user_id"],
            "username": account["username"],
            "access_token": auth.token_for(account),
            "token_type": "bearer",
            "expires_in": _ttl(auth),
        },
        status_code=201,
    )


async def login(request: Request) -> JSONResponse:
    """Exchange a username and password (JSON or OAuth2 password form) for a token."""
    auth = _authenticator(request)
    accounts = _local_accounts(auth, "Login")
    body = await _credentials(request)
    username = _text(body, "username")
    password = _text(body, "password")
    client = _client(request)
    limits = [
        (("login", client, _part(username.lower())), LOGIN_RATE),
        (("login", client), LOGIN_ADDRESS_RATE),
    ]
    await _throttle(request, limits, "login attempts")
    try:
        account = await accounts.authenticate(username, password)
    except AuthError as exc:
        raise Unauthorized(exc.message, error_code="login_failed") from None
    except HashingBusy as exc:
        raise _busy(exc) from None
    return JSONResponse(
        {
            "access_token": auth.token_for(account),
            "token_type": "bearer",
            "expires_in": _ttl(auth),
            "user_id": account["user_id"],
            "username": account["username"],
        }
    )


async def me(request: Request) -> JSONResponse:
    """Who the bearer token says the caller is."""
    try:
        identity = await _authenticator(request).authenticate(request.headers.get("authorization"))
    except AuthError as exc:
        raise Unauthorized(exc.message, headers={"WWW-Authenticate": "Bearer"}) from None
    return JSONResponse(identity.context())


def _client(request: Request) -> str:
    """The client's address: the peer's, or the one a trusted proxy named (see app.py)."""
    return _part(request.client.host) if request.client else "-"


def _part(text: str) -> str:
    """``text`` as a part of a throttle's key: itself when short and plain, else ``#`` and
    its digest, so a client's strings cannot make keys large (in memory, in Redis)."""
    if len(text) <= _LONGEST_PART and text.isascii() and text.isprintable():
        return text
    return "#" + hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


async def _throttle(request: Request, limits: Sequence[tuple[Key, Rate]], what: str) -> None:
    """429 with Retry-After unless every ``(key, rate)`` budget allows one more call.

    The governor keeps the buckets: the process's own with one process, else those every
    worker or process shares (while Redis is unreachable, each process's own again).
    """
    wait = await request.app.state.runtime.executor.governor.take("auth", limits)
    if wait > 0:
        raise TooManyRequests(
            f"Too many {what} from this address; wait before trying again.",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )


def _busy(exc: HashingBusy) -> ServiceUnavailable:
    return ServiceUnavailable(
        exc.message,
        error_code="busy",
        headers={"Retry-After": str(max(1, math.ceil(exc.retry_after)))},
    )


def _authenticator(request: Request) -> Authenticator:
    auth: Authenticator = request.app.state.runtime.auth
    return auth


def _local_accounts(auth: Authenticator, action: str) -> AccountStore:
    if auth.mode == "oidc" or auth.accounts is None:
        raise NotFound(
            f"{action} is not available: this server takes identities from its OIDC provider; "
            "sign in there and send its token."
        )
    return auth.accounts


def _ttl(auth: Authenticator) -> int:
    assert auth.tokens is not None
    return auth.tokens.ttl_seconds


async def _credentials(request: Request) -> dict[str, Any]:
    """The login body: a JSON object, or an OAuth2 password-grant form (URL-encoded or
    multipart, as browsers' FormData sends it)."""
    max_bytes = request.app.state.runtime.settings.max_body_bytes
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in _FORMS:
        return await read_form(request, max_bytes)
    return await read_json_object(request, max_bytes)


def _text(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise Unprocessable(
            f"Field {field!r} is required and must be a string.", extra={"field": field}
        )
    return value
