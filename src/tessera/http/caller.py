"""Who is calling: the verified identity behind a request's bearer token."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from tessera.auth.authenticator import Authenticator
from tessera.auth.errors import AuthError
from tessera.auth.identity import Identity
from tessera.http.errors import Unauthorized
from tessera.services.database import valid_app_id


async def identify(auth: Authenticator | None, credentials: str | None) -> Identity:
    """The identity behind an ``Authorization`` value or raw token; 401 when it does not
    verify or names an app id the store cannot hold."""
    assert auth is not None, "requests are served once the runtime has started"
    try:
        identity = await auth.authenticate(credentials)
    except AuthError as exc:
        raise Unauthorized(str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    if not valid_app_id(identity.app_id):
        raise Unauthorized(
            f"The token's app id {identity.app_id!r} is not valid: use letters, digits, '_' "
            "and '-', starting with a letter or digit.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return identity


async def caller(conn: HTTPConnection, token: str | None = None) -> Identity:
    """The identity of the request (or of ``token`` when given); 401 when it does not verify."""
    credentials = token if token is not None else conn.headers.get("authorization")
    return await identify(conn.app.state.runtime.auth, credentials)
