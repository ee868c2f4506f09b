"""The interface between the WebSocket manager and the transport that carries messages.

The manager numbers and stores a message, then publishes it here; the fan-out calls
``deliver`` in every process holding a connection of that user. The in-process fan-out
calls it at once; a cluster fan-out (Redis) reaches the other processes too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class UserMessage:
    """A JSON message for every connection of one user of one app, with its ``seq``."""

    app_id: str
    user_id: str
    seq: int
    text: str


Deliver = Callable[[UserMessage], Awaitable[None]]


class Fanout(Protocol):
    """Carries user messages to the processes that hold the user's connections."""

    def start(self, deliver: Deliver) -> None:
        """Begin passing published messages to ``deliver`` (this process's connections)."""

    async def publish(self, message: UserMessage) -> None:
        """Send ``message`` to the user's connections, in whatever process they are.

        Messages published one after the other for one user are delivered in that order.
        """

    async def stop(self) -> None:
        """Stop delivering."""
