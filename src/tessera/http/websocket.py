"""The WebSocket endpoints: ``/ws/notifications/{hint}`` and ``/ws``.

The token comes from the ``Sec-WebSocket-Protocol`` header (``mozaiks, <jwt>``: the
server echoes ``mozaiks``, never the token), from ``?access_token=``, or from an
``Authorization`` header. The socket is accepted once, then closed with 4001 when the
token is missing or bad and 4003 when ``hint`` names another user (``_`` means "me").
``?last_seq=N`` resumes after message N.

Like the execute route, these are served beside Starlette rather than inside it (see
``tessera.http.app``): a socket lives for hours, and every layer it passes through stays
suspended for as long, in memory and in each garbage collection (docs/performance.md).
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import TYPE_CHECKING

from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketState

from tessera.cluster.errors import ClusterUnavailable
from tessera.context import current_request_id
from tessera.http.caller import identify
from tessera.http.errors import Unauthorized
from tessera.http.middleware import request_id_of
from tessera.services.connection import (
    CLOSE_FORBIDDEN,
    CLOSE_INTERNAL_ERROR,
    CLOSE_POLICY,
    CLOSE_TRY_AGAIN_LATER,
    CLOSE_UNAUTHORIZED,
)
from tessera.services.resume import MAX_SEQ

if TYPE_CHECKING:
    from tessera.runtime import Runtime

logger = logging.getLogger("tessera.websocket")

SUBPROTOCOL = "mozaiks"
ANY_USER = "_"
NOTIFICATIONS_PREFIX = "/ws/notifications/"
# A close reason holds 123 bytes at most.
MISSING_TOKEN = (
    "No token: offer subprotocols ['mozaiks', <token>], add ?access_token=<token>, or send an "
    "Authorization header."
)
_SEQ_DIGITS = re.compile(r"[0-9]{1,19}")  # MAX_SEQ has 19


def socket_hint(scope: Scope) -> str | None:
    """The ``hint`` of a WebSocket request to one of the endpoints; None for any other."""
    if scope["type"] != "websocket":
        return None
    path: str = scope["path"]
    if path == "/ws":
        return ANY_USER
    hint = path[len(NOTIFICATIONS_PREFIX) :]
    if path.startswith(NOTIFICATIONS_PREFIX) and hint and "/" not in hint:
        return hint
    return None


class SocketEndpoint:
    """The ASGI app answering the requests :func:`socket_hint` picks out: its own request
    context (the id in the log) and error handling, as ``ExecuteEndpoint`` is."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hint = socket_hint(scope)
        assert hint is not None, "only WebSocket requests that socket_hint accepts"
        token = current_request_id.set(request_id_of(scope).decode())
        websocket = WebSocket(scope, receive, send)
        try:
            await serve_socket(self.runtime, websocket, hint)
        except Exception:
            logger.exception("unhandled error in WebSocket %s", scope["path"])
            if websocket.application_state is WebSocketState.CONNECTED:
                with contextlib.suppress(Exception):  # the client may be gone already
                    await websocket.close(CLOSE_INTERNAL_ERROR, "internal error")
        finally:
            current_request_id.reset(token)


def offered_token(subprotocols: list[str]) -> tuple[str | None, str | None]:
    """``(subprotocol to echo, token)`` from the subprotocols the client offered."""
    offered = [p.strip() for p in subprotocols if p.strip()]
    chosen = SUBPROTOCOL if SUBPROTOCOL in offered else None
    token = next((p for p in offered if p != SUBPROTOCOL), None)
    return chosen, token


async def serve_socket(runtime: Runtime, websocket: WebSocket, hint: str) -> None:
    """Accept, authenticate, then serve the socket until either side closes."""
    subprotocol, token = offered_token(list(websocket.scope.get("subprotocols") or ()))
    token = token or websocket.query_params.get("access_token")
    # Accepting first lets the close code reach browsers, which hide a refused handshake.
    await websocket.accept(subprotocol=subprotocol)
    credentials = token or websocket.headers.get("authorization")
    if not (credentials and credentials.strip()):
        # Not the HTTP routes' advice: a browser cannot set a WebSocket's headers.
        await websocket.close(CLOSE_UNAUTHORIZED, MISSING_TOKEN)
        return
    try:
        identity = await identify(runtime.auth, credentials)
    except Unauthorized as exc:
        await websocket.close(CLOSE_UNAUTHORIZED, _reason(exc.message))
        return
    if hint not in (ANY_USER, identity.user_id):
        await websocket.close(CLOSE_FORBIDDEN, "this socket belongs to another user")
        return
    raw_seq = websocket.query_params.get("last_seq")
    last_seq = None
    if raw_seq is not None:
        # Not str.isdigit, which takes "²"; and few digits, as int() refuses 4,301 or more.
        if not _SEQ_DIGITS.fullmatch(raw_seq) or int(raw_seq) > MAX_SEQ:
            await websocket.close(CLOSE_POLICY, f"last_seq must be an integer from 0 to {MAX_SEQ}")
            return
        last_seq = int(raw_seq)
    websockets = runtime.services.websockets
    try:
        connection = await websockets.open(websocket, identity, last_seq)
    except ClusterUnavailable as exc:
        logger.warning("WebSocket of user %s refused: %s", identity.user_id, exc)
        await websocket.close(CLOSE_TRY_AGAIN_LATER, "Redis unreachable: reconnect shortly")
        return
    try:
        await connection.serve({"type": "connected", "last_seq": connection.last_seq})
    finally:
        websockets.discard(connection)


def _reason(message: str) -> str:
    """A close reason fits in 123 bytes."""
    encoded = message.encode()[:120]
    return encoded.decode(errors="ignore")
