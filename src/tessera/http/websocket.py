"""The WebSocket endpoints: ``/ws/notifications/{hint}`` and ``/ws``.

The token comes from the ``Sec-WebSocket-Protocol`` header (``mozaiks, <jwt>``: the
server echoes ``mozaiks``, never the token), from ``?access_token=``, or from an
``Authorization`` header. The socket is accepted once, then closed with 4001 when the
token is missing or bad and 4003 when ``hint`` names another user (``_`` means "me").
``?last_seq=N`` resumes after message N.
"""

from __future__ import annotations

import logging

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket

from tessera.cluster.errors import ClusterUnavailable
from tessera.http.caller import caller
from tessera.http.errors import Unauthorized
from tessera.services.connection import (
    CLOSE_FORBIDDEN,
    CLOSE_POLICY,
    CLOSE_TRY_AGAIN_LATER,
    CLOSE_UNAUTHORIZED,
)
from tessera.services.websocket import websocket_manager

logger = logging.getLogger("tessera.websocket")

SUBPROTOCOL = "mozaiks"
ANY_USER = "_"


def websocket_routes() -> list[BaseRoute]:
    """The WebSocket routes."""
    return [
        WebSocketRoute("/ws/notifications/{hint}", socket_endpoint),
        WebSocketRoute("/ws", socket_endpoint),
    ]


def offered_token(subprotocols: list[str]) -> tuple[str | None, str | None]:
    """``(subprotocol to echo, token)`` from the subprotocols the client offered."""
    offered = [p.strip() for p in subprotocols if p.strip()]
    chosen = SUBPROTOCOL if SUBPROTOCOL in offered else None
    token = next((p for p in offered if p != SUBPROTOCOL), None)
    return chosen, token


async def socket_endpoint(websocket: WebSocket) -> None:
    subprotocol, token = offered_token(list(websocket.scope.get("subprotocols") or ()))
    token = token or websocket.query_params.get("access_token")
    # Accepting first lets the close code reach browsers, which hide a refused handshake.
    await websocket.accept(subprotocol=subprotocol)
    try:
        identity = await caller(websocket, token)
    except Unauthorized as exc:
        await websocket.close(CLOSE_UNAUTHORIZED, _reason(exc.message))
        return
    hint = websocket.path_params.get("hint", ANY_USER)
    if hint not in (ANY_USER, identity.user_id):
        await websocket.close(CLOSE_FORBIDDEN, "this socket belongs to another user")
        return
    raw_seq = websocket.query_params.get("last_seq")
    last_seq = None
    if raw_seq is not None:
        if not raw_seq.isdigit():
            await websocket.close(CLOSE_POLICY, "last_seq must be a non-negative integer")
            return
        last_seq = int(raw_seq)
    try:
        connection = await websocket_manager.open(websocket, identity, last_seq)
    except ClusterUnavailable as exc:
        logger.warning("WebSocket of user %s refused: %s", identity.user_id, exc)
        await websocket.close(CLOSE_TRY_AGAIN_LATER, "Redis unreachable: reconnect shortly")
        return
    try:
        await connection.serve({"type": "connected", "last_seq": connection.last_seq})
    finally:
        websocket_manager.discard(connection)


def _reason(message: str) -> str:
    """A close reason fits in 123 bytes."""
    encoded = message.encode()[:120]
    return encoded.decode(errors="ignore")
